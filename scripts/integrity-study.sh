#!/usr/bin/env bash
# The false-positive study of the integrity checks (no Docker): the static checks over the gold
# patches of the 500 SWE-bench Verified instances, every check over the 71 official oracle logs,
# and the log edits that fool the official grading on those logs. Reads ../shared.
#
#   ./scripts/integrity-study.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test -p agentless-harness --test integrity_study -- --nocapture --test-threads 1 2>&1 |
  grep -v '^\(running\|test \|$\)'
test "${PIPESTATUS[0]}" -eq 0
