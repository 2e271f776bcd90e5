#!/usr/bin/env bash
# Set up the reference Python environments the parity tests and benchmarks compare against:
#   target/parity/swebench4  — the official swebench 4.1.0 (the harness behind 2024–2026 logs)
#   target/parity/swebench5  — the official swebench 5.0.2
# Reference implementations only: the tool itself never runs Python.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/target/parity"
mkdir -p "$dest"
for spec in "swebench4 swebench==4.1.0" "swebench5 swebench==5.0.2"; do
  set -- $spec
  name=$1; pkg=$2
  if [ ! -x "$dest/$name/bin/python" ] || ! "$dest/$name/bin/python" -c "import swebench, pyarrow" 2>/dev/null; then
    python3 -m venv "$dest/$name"
    "$dest/$name/bin/pip" install --quiet --disable-pip-version-check "$pkg" pyarrow
  fi
done
echo "export SWEBENCH4_PYTHON=$dest/swebench4/bin/python"
echo "export SWEBENCH5_PYTHON=$dest/swebench5/bin/python"
