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

# Reference implementations for the side-by-side parity tests (never used by the tool).
parity_env="$("$root/scripts/setup-parity-env.sh")"
eval "$parity_env"
export SWEBENCH4_PYTHON SWEBENCH5_PYTHON UNIDIFF075_PYTHON LLAMACPP_PYTHON

docker info >/dev/null 2>&1 || { echo "error: the Docker engine is not reachable (docker info failed)" >&2; exit 1; }

cargo test --workspace --no-fail-fast -- --test-threads="${TEST_THREADS:-2}"
