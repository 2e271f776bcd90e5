#!/usr/bin/env python3
"""Benchmark (not a test): grading every oracle log, `agentless-mini grade` against the
official swebench 4.1.0 (scripts/official_grade.py, its get_eval_report per instance), side
by side on the same files, as whole commands (dataset load included on both sides).

    scripts/bench-grade.py [--repeat 5] [--bin target/release/agentless-mini]
                           [--python target/parity/swebench4/bin/python]

Both outputs are compared before any time is printed: a benchmark of different answers
would mean nothing. Needs a built agentless-mini and the official swebench 4.1.0
(scripts/setup-parity-env.sh). Python is only the reference here; the tool never runs it.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
DATASET = os.path.join(SHARED, "data", "swe-bench", "verified-2026-02-16.parquet")
LOGS = os.path.join(SHARED, "data", "oracle-logs")


def timed(cmd):
    t = time.monotonic()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.monotonic() - t
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-3000:]}")
    return wall


def reports(out):
    got = {}
    for iid in sorted(d for d in os.listdir(out) if os.path.isdir(os.path.join(out, d))):
        with open(os.path.join(out, iid, "report.json")) as fh:
            got[iid] = json.load(fh)
    return got


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "agentless-mini"))
    ap.add_argument("--python", default=os.environ.get("SWEBENCH4_PYTHON", os.path.join(ROOT, "target", "parity", "swebench4", "bin", "python")))
    a = ap.parse_args()
    logs = sorted(d for d in os.listdir(LOGS) if os.path.isfile(os.path.join(LOGS, d, "test_output.txt")))
    ours_t, ref_t = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.repeat):
            ours_out = os.path.join(tmp, f"ours{r}")
            ref_out = os.path.join(tmp, f"ref{r}")
            # Alternate so that background load hits both alike.
            ours_t.append(timed([a.bin, "-q", "grade", "--dataset", DATASET, "--logs", LOGS, "--out", ours_out]))
            ref_t.append(timed([a.python, os.path.join(ROOT, "scripts", "official_grade.py"), DATASET, LOGS, ref_out]))
            ours, ref = reports(ours_out), reports(ref_out)
            if ours != ref:
                diff = sorted(k for k in set(ours) | set(ref) if ours.get(k) != ref.get(k))
                sys.exit(f"the two graders disagree on {len(diff)} instances: {diff[:5]}")
    o, p = statistics.median(ours_t), statistics.median(ref_t)
    print(f"grading {len(logs)} oracle logs against {os.path.basename(DATASET)}, {a.repeat} runs, median wall time")
    print(f"  agentless-mini grade     {o:8.3f} s  ({o / len(logs) * 1000:.2f} ms/log)")
    print(f"  swebench 4.1.0 (Python)  {p:8.3f} s  ({p / len(logs) * 1000:.2f} ms/log)")
    print(f"  ratio: {p / o:.1f}x faster; reports identical ({len(logs)}/{len(logs)})")


if __name__ == "__main__":
    main()
