#!/usr/bin/env python3
"""Grade logs with the OFFICIAL swebench package (4.1.0 or 5.x, whichever is importable).

Reference implementation for parity tests and benchmarks only; never used by the tool.

usage: official_grade.py DATASET.parquet LOGS_DIR OUT_DIR
Writes OUT_DIR/<instance_id>/report.json exactly as the official harness would, for every
LOGS_DIR/<instance_id>/test_output.txt (patch.diff absent or blank = no patch).
"""
import json
import os
import sys

import pyarrow.parquet as pq
import swebench
from swebench.harness.grading import get_eval_report

V5 = swebench.__version__.startswith("5")
if V5:
    from swebench.harness.utils import make_test_spec
else:
    import swebench.harness.test_spec.test_spec as _test_spec
    from swebench.harness.test_spec.test_spec import make_test_spec

    # 4.1.0 builds the environment script too, fetching requirement files from GitHub; grading
    # never reads it, and this machine has no GitHub: leave it empty.
    _test_spec.make_env_script_list = lambda *args, **kwargs: []


def main():
    dataset, logs, out = sys.argv[1:4]
    rows = {r["instance_id"]: r for r in pq.read_table(dataset).to_pylist()}
    for iid in sorted(os.listdir(logs)):
        d = os.path.join(logs, iid)
        log = os.path.join(d, "test_output.txt")
        if not os.path.isfile(log) or iid not in rows:
            continue
        row = dict(rows[iid])
        spec = make_test_spec(row)
        patch_path = os.path.join(d, "patch.diff")
        patch = open(patch_path).read() if os.path.exists(patch_path) else ""
        pred = {"instance_id": iid, "model_name_or_path": "x", "model_patch": patch if patch.strip() else None}
        try:
            report = get_eval_report(spec, pred, log, include_tests_status=True)
        except Exception as e:  # the official code raises on some inputs (non-UTF-8 in 4.1.0)
            report = {"__error__": type(e).__name__}
        os.makedirs(os.path.join(out, iid), exist_ok=True)
        with open(os.path.join(out, iid, "report.json"), "w") as f:
            f.write(json.dumps(report, indent=4))


if __name__ == "__main__":
    main()
