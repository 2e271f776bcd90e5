#!/usr/bin/env python3
"""Benchmark (not a test): per-instance overhead of `agentless-mini evaluate` against the
official SWE-bench harness 5.x, side by side, on the demo split.

Overhead per instance = (wall time of the whole run - sum of the eval scripts' runtimes)
/ instances, with one worker for both. The test runtime of each instance is read from its
`run_instance.log` ("Test runtime: N seconds"), which both harnesses write. Both use the same
local instance images (the official harness gets the demo rows with the `image` column set to
them), so image builds are not timed.

    scripts/bench-evaluate.py [--repeat 3] [--bin target/release/agentless-mini]
                              [--python target/parity/swebench5/bin/python]

Needs the Docker engine, a built agentless-mini, and the official swebench 5.x
(scripts/setup-parity-env.sh). Python is only the reference here; the tool never runs it.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "datasets", "demo", "instances.jsonl")
RUNTIME = re.compile(r"Test runtime: ([0-9_.]+) seconds")


def test_seconds(log_root):
    total, n = 0.0, 0
    for dirpath, _, files in os.walk(log_root):
        if "run_instance.log" in files:
            with open(os.path.join(dirpath, "run_instance.log"), errors="replace") as fh:
                m = RUNTIME.search(fh.read())
            if m:
                total += float(m.group(1).replace("_", ""))
                n += 1
    return total, n


def timed(cmd, cwd):
    t = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.monotonic() - t
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-3000:]}")
    return wall


def image_name(instance_id):
    return f"sweb.eval.x86_64.{instance_id.lower()}:latest"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "agentless-mini"))
    ap.add_argument("--python", default=os.environ.get("SWEBENCH5_PYTHON", os.path.join(ROOT, "target", "parity", "swebench5", "bin", "python")))
    args = ap.parse_args()
    for p in (args.bin, args.python):
        if not os.path.exists(p):
            sys.exit(f"{p} does not exist (cargo build --release; scripts/setup-parity-env.sh)")

    rows = [json.loads(line) for line in open(DEMO) if line.strip()]
    n = len(rows)
    work = tempfile.mkdtemp(prefix="bench-evaluate-")
    dataset_v5 = os.path.join(work, "demo-with-images.jsonl")
    with open(dataset_v5, "w") as fh:
        for r in rows:
            r["image"] = image_name(r["instance_id"])
            fh.write(json.dumps(r) + "\n")

    # Warm-up: builds the demo images once (not timed) and checks the gold patches resolve.
    timed([args.bin, "-q", "evaluate", "--split", "demo", "--predictions", "gold", "--run-id", "warmup", "--workers", "1"], work)

    results = {"agentless-mini": [], "swebench 5.x": []}
    stamp = str(int(time.time()))
    for i in range(args.repeat):
        cwd = os.path.join(work, f"ours-{i}")
        os.makedirs(cwd)
        wall = timed([args.bin, "-q", "evaluate", "--split", "demo", "--predictions", "gold", "--run-id", f"b{stamp}-{i}", "--workers", "1"], cwd)
        tests, seen = test_seconds(os.path.join(cwd, "logs"))
        assert seen == n, (seen, n)
        results["agentless-mini"].append(((wall - tests) / n, wall, tests))

        cwd = os.path.join(work, f"official-{i}")
        os.makedirs(cwd)
        wall = timed([args.python, "-m", "swebench.harness.run_evaluation", "--dataset_name", dataset_v5,
                      "--predictions_path", "gold", "--run_id", f"b{stamp}-{i}", "--max_workers", "1"], cwd)
        tests, seen = test_seconds(os.path.join(cwd, "logs"))
        assert seen == n, (seen, n)
        results["swebench 5.x"].append(((wall - tests) / n, wall, tests))

    print(f"demo split: {n} instances, gold patches, 1 worker, {args.repeat} runs each (median)")
    print(f"{'harness':<16} {'overhead/instance':>18} {'run wall':>10} {'tests':>8}")
    med = {}
    for name, rs in results.items():
        o = statistics.median(r[0] for r in rs)
        med[name] = o
        print(f"{name:<16} {o:>16.2f} s {statistics.median(r[1] for r in rs):>8.2f} s {statistics.median(r[2] for r in rs):>6.2f} s")
    ours, theirs = med["agentless-mini"], med["swebench 5.x"]
    print(f"ratio: agentless-mini overhead = {ours / theirs:.3f} x official ({theirs / ours:.1f}x less)")


if __name__ == "__main__":
    main()
