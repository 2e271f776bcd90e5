#!/usr/bin/env bash
# Set up the reference Python environments the parity tests and benchmarks compare against,
# each a venv under target/parity/ (idempotent; a complete venv is reused):
#   swebench4  — the official swebench 4.1.0 (the harness behind the 2024–2026 logs)
#   swebench5  — the official swebench 5.0.2
#   unidiff075 — unidiff 0.7.5, the patch parser swe-rl's reward runs on
#   llamacpp   — llama-cpp-python 0.3.36 (llama.cpp, for the local model's parity tests)
#   hfhub      — huggingface_hub 2.4.0 (the dataset cache layout, read and written both ways)
# Prints `export NAME=…` lines for the interpreters on stdout (use: eval "$(…)"); progress
# goes to stderr. Reference implementations only: the tool itself never runs Python.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/target/parity"
mkdir -p "$dest"

# name | pip requirements | import check | exported variable
envs=(
  "swebench4|swebench==4.1.0 pyarrow|import swebench, pyarrow; assert swebench.__version__ == '4.1.0'|SWEBENCH4_PYTHON"
  "swebench5|swebench==5.0.2 pyarrow|import swebench, pyarrow; assert swebench.__version__ == '5.0.2'|SWEBENCH5_PYTHON"
  "unidiff075|unidiff==0.7.5|import unidiff; assert unidiff.VERSION == '0.7.5'|UNIDIFF075_PYTHON"
  "llamacpp|llama-cpp-python==0.3.36|import llama_cpp, pathlib, sys; assert llama_cpp.__version__ == '0.3.36'; assert (pathlib.Path(sys.prefix) / 'portable-build').exists()|LLAMACPP_PYTHON"
  "hfhub|huggingface_hub==2.4.0|import huggingface_hub; assert huggingface_hub.__version__ == '2.4.0'|HFHUB_PYTHON"
)
for entry in "${envs[@]}"; do
  IFS='|' read -r name reqs check var <<<"$entry"
  py="$dest/$name/bin/python"
  if [ ! -x "$py" ] || ! "$py" -c "$check" 2>/dev/null; then
    echo "setting up $dest/$name ($reqs)..." >&2
    rm -rf "$dest/$name"
    python3 -m venv "$dest/$name"
    # llama-cpp-python builds llama.cpp from source (a few minutes on 2 cores). Portable
    # (GGML_NATIVE=OFF), one of the three builds the parity bounds were measured on: the
    # native build segfaults in llama_decode on a machine with AMX tiles here (exit 139 on
    # every greedy request; the tokenizer-only requests pass), so the parity tests failed on
    # how llama.cpp was built rather than on the engine. CMAKE_ARGS, when set, wins.
    # shellcheck disable=SC2086
    if [ "$name" = llamacpp ]; then
      CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" "$py" -m pip install --quiet --no-cache-dir \
        --disable-pip-version-check $reqs >&2
      touch "$dest/$name/portable-build"
    else
      "$py" -m pip install --quiet --disable-pip-version-check $reqs >&2
    fi
    "$py" -c "$check" || { echo "error: $dest/$name does not import ($check)" >&2; exit 1; }
  fi
  echo "export $var=$py"
done
