#!/usr/bin/env python3
"""Print the simple-API URL of the Python package index that this machine's pip uses.

The tool names no package host itself: scripts/demo.sh and scripts/test.sh export the answer
as AGENTLESS_PYPI_INDEX (for the default model's download), and scripts/python-parity.py
imports `index_url()`. Order: PIP_INDEX_URL, pip's configured `index-url`, pip's built-in default.
"""
import os
import subprocess
import sys


def index_url() -> str:
    url = os.environ.get("PIP_INDEX_URL", "").strip()
    if url:
        return url
    for key in ("global.index-url", "download.index-url", "install.index-url"):
        got = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", key],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=False,
        )
        if got.returncode == 0 and got.stdout.strip():
            return got.stdout.strip()
    from pip._internal.models.index import PyPI  # pip's own default index

    return PyPI.simple_url


if __name__ == "__main__":
    print(index_url())
