#!/usr/bin/env bash
# The detection table of the exploit corpus (datasets/exploits/): every patch evaluated by the
# harness in the demo images (real Docker), official verdicts under the 4.x and 5.x rules,
# and the integrity findings; then the log edits. Fails if any expectation of the corpus fails.
#
#   ./scripts/integrity-table.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test -p agentless-harness --test integrity_docker -- --nocapture 2>&1 |
  sed -n '/^detection table/,/gold flagged/p'
test "${PIPESTATUS[0]}" -eq 0
