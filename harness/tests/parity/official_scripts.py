"""Reference output of the official swebench 4.1.0 script generators, for parity tests.

Usage: python official_scripts.py DATASET.parquet RAW_URL|- [ID ...]
Prints JSON {instance_id: {"eval": str, "repo": [lines], "env": [lines] | null, "env_key": str | null}}.
`env` is computed only when it needs no download, or when RAW_URL (a loopback mirror of
raw.githubusercontent.com) is given and the instance is listed in IDs.
"""
import hashlib
import json
import sys

import pyarrow.parquet as pq
import swebench.harness.test_spec.python as tsp
from swebench.harness.constants import MAP_REPO_VERSION_TO_SPECS

dataset, raw, *ids = sys.argv[1:]
if raw != "-":
    tsp.SWE_BENCH_URL_RAW = raw
wanted = set(ids)
out = {}
for row in pq.read_table(dataset).to_pylist():
    inst = dict(row)
    for k in ("FAIL_TO_PASS", "PASS_TO_PASS"):
        if isinstance(inst[k], str):
            inst[k] = json.loads(inst[k])
    iid = inst["instance_id"]
    specs = MAP_REPO_VERSION_TO_SPECS[inst["repo"]][inst["version"]]
    evl = tsp.make_eval_script_list_py(inst, specs, "testbed", "/testbed", inst["base_commit"], inst["test_patch"])
    repo = tsp.make_repo_script_list_py(specs, inst["repo"], "/testbed", inst["base_commit"], "testbed")
    env = None
    needs_download = specs.get("packages", "") in ("requirements.txt", "environment.yml")
    if (not needs_download and not wanted) or iid in wanted:
        env = tsp.make_env_script_list_py(inst, specs, "testbed")
    out[iid] = {
        "eval": "\n".join(["#!/bin/bash", "set -uxo pipefail"] + evl) + "\n",
        "repo": repo,
        "env": env,
        "env_key": None if env is None else hashlib.sha256(str(env).encode("utf-8")).hexdigest()[:22],
    }
    if wanted and iid not in wanted:
        del out[iid]
json.dump(out, sys.stdout)
