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
parity_out="$(mktemp)"
trap 'rm -f "$parity_out"' EXIT
"$root/scripts/setup-parity-env.sh" >"$parity_out" &
parity_pid=$!
build_rc=0
cargo test --workspace --no-run || build_rc=$?
wait "$parity_pid" || { echo "error: scripts/setup-parity-env.sh failed" >&2; exit 1; }
[ "$build_rc" -eq 0 ] || { echo "error: the tests do not build" >&2; exit "$build_rc"; }
# shellcheck source=/dev/null
. "$parity_out"
export SWEBENCH4_PYTHON SWEBENCH5_PYTHON UNIDIFF075_PYTHON LLAMACPP_PYTHON HFHUB_PYTHON

docker info >/dev/null 2>&1 || { echo "error: the Docker engine is not reachable (docker info failed)" >&2; exit 1; }

# The real-instance suite's replica images (tests/real_instances.rs): built from scratch they
# take 10-20 minutes, mostly downloads and Docker I/O (the script itself uses ~2 min of CPU),
# so they are built beside the other tests. The test waits for this build (a lock in the
# script) and then finds every image cached; a failed build is redone and reported there.
real_log="$root/target/real-instances-build.log"
mkdir -p "$root/target"
python3 "$root/scripts/real-instances.py" build >"$real_log" 2>&1 &
real_pid=$!

test_rc=0
cargo test --workspace --no-fail-fast -- --test-threads="${TEST_THREADS:-2}" || test_rc=$?
wait "$real_pid" || echo "note: the early real-instance build failed (see $real_log)" >&2
exit "$test_rc"
