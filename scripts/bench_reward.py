#!/usr/bin/env python3
"""Benchmark `agentless-mini reward` against CPython running the same SWE-RL reward.

Inputs: the public reward vectors, and a synthetic batch built from SWE-bench Verified: for
every instance, mutated versions of its gold patch (unidiff kind) and SEARCH/REPLACE outputs
rebuilt from its gold hunks with mutated REPLACE text (search_replace kind). Both sides are
first checked to agree (the reference on the public vectors with check.py, then the command
against the reference on the synthetic batch, within 1e-9), then timed on one core (both
processes pinned to one CPU) and on all cores (reference: --jobs N processes; command:
--threads N), side by side with the speed ratio.

usage: python3 scripts/bench_reward.py [--python PY] [--per-instance K] [--repeat R]
Needs: a release build (cargo build --release), and a Python with unidiff==0.7.5 for the
reference (--python, or UNIDIFF075_PYTHON; e.g. python3 -m venv target/parity/unidiff075 &&
target/parity/unidiff075/bin/pip install unidiff==0.7.5).
Not a test: it prints numbers, it does not judge them.
"""
import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
VECTORS = SHARED / "data/reward-vectors/public.jsonl"
CHECK = SHARED / "data/reward-vectors/check.py"
VERIFIED = SHARED / "data/swe-bench/verified-2026-02-16.parquet"
REFERENCE = ROOT / "scripts/swerl_reward_reference.py"


# ---------------------------------------------------------------------------- synthetic batch

def parse_git_diff(patch):
    """[(path, [hunk lines])] of a well-formed git diff; new, deleted and binary files left out."""
    files, cur, hunk = [], None, None
    for line in patch.split("\n"):
        if line.startswith("diff --git "):
            cur = {"path": None, "hunks": [], "skip": False}
            files.append(cur)
            hunk = None
        elif cur is None:
            continue
        elif line.startswith(("new file mode", "deleted file mode", "Binary files", "GIT binary")):
            cur["skip"] = True
        elif line.startswith("--- ") and hunk is None:
            pass
        elif line.startswith("+++ ") and hunk is None:
            cur["path"] = line[4:].removeprefix("b/")
        elif line.startswith("@@"):
            hunk = []
            cur["hunks"].append(hunk)
        elif hunk is not None and line[:1] in (" ", "-", "+"):
            hunk.append(line)
    return [(f["path"], f["hunks"]) for f in files if f["path"] and f["hunks"] and not f["skip"]]


def mutate_line(rng, text):
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(chars))
        op = rng.random()
        if op < 0.4:
            chars.insert(at, rng.choice("abcxyz_ ()=.,0123"))
        elif op < 0.7 and at < len(chars):
            del chars[at]
        elif at < len(chars):
            chars[at] = rng.choice("abcxyz_ ()=.,0123")
    return "".join(chars)


def mutate_patch(rng, patch):
    """Change the content of some +/- lines (hunk counts stay valid), sometimes drop a file."""
    sections = patch.split("\ndiff --git ")
    if len(sections) > 1 and rng.random() < 0.2:
        del sections[rng.randrange(1, len(sections))]
    lines = "\ndiff --git ".join(sections).split("\n")
    body = [i for i, l in enumerate(lines) if l[:1] in ("+", "-") and not l.startswith(("+++", "---"))]
    for i in rng.sample(body, min(len(body), rng.randint(1, 6))):
        lines[i] = lines[i][0] + mutate_line(rng, lines[i][1:])
    return "\n".join(lines)


def search_replace_request(rng, rid, files):
    """code_context / oracle from the hunks' old / new sides; an output with one block per hunk."""
    context, oracle, blocks = {}, {}, []
    for path, hunks in files:
        old_parts, new_parts = [], []
        for n, hunk in enumerate(hunks):
            old = [l[1:] for l in hunk if l[0] in " -"]
            new = [l[1:] for l in hunk if l[0] in " +"]
            filler = [f"# filler {n} of {path}"]
            old_parts += old + filler
            new_parts += new + filler
            if not old:
                continue
            repl = list(new)
            if repl and rng.random() < 0.7:
                k = rng.randrange(len(repl))
                repl[k] = mutate_line(rng, repl[k])
            blocks.append(
                "```python\n### {}\n<<<<<<< SEARCH\n{}\n=======\n{}\n>>>>>>> REPLACE\n```".format(
                    path, "\n".join(old), "\n".join(repl)
                )
            )
        context[path] = "\n".join(old_parts) + "\n"
        oracle[path] = "\n".join(new_parts) + "\n"
    if rng.random() < 0.3 and len(blocks) > 1:
        blocks.pop(rng.randrange(len(blocks)))
    output = "<think>\nThe fix changes the code below.\n</think>\n<solution>\n" + "\n\n".join(blocks) + "\n</solution>"
    return {"id": rid, "kind": "search_replace", "code_context": context, "oracle_new_content": oracle, "output": output}


def synthetic_batch(binary, per_instance, path):
    rows = subprocess.run(
        [binary, "-q", "dataset", "--dataset", str(VERIFIED), "--jsonl"], check=True, capture_output=True, text=True
    ).stdout.splitlines()
    instances = sorted((json.loads(r) for r in rows), key=lambda r: r["instance_id"])
    n = 0
    with open(path, "w") as out:
        for inst in instances:
            iid, gold = inst["instance_id"], inst["patch"]
            rng = random.Random(hashlib.sha256(iid.encode()).digest())
            files = parse_git_diff(gold)
            for k in range(per_instance):
                pred = mutate_patch(rng, gold)
                req = {"id": f"{iid}/un{k}", "kind": "unidiff", "oracle_patches": [gold], "pred_patches": [pred]}
                out.write(json.dumps(req) + "\n")
                n += 1
                if files:
                    out.write(json.dumps(search_replace_request(rng, f"{iid}/sr{k}", files)) + "\n")
                    n += 1
    return n


# ---------------------------------------------------------------------------- running and timing

def pin_to(cpu):
    return lambda: os.sched_setaffinity(0, {cpu})


def timed(cmd, stdin_path, stdout_path, pin=None):
    with open(stdin_path, "rb") as fin, open(stdout_path, "wb") as fout:
        start = time.perf_counter()
        subprocess.run(cmd, stdin=fin, stdout=fout, check=True, preexec_fn=pin)
        return time.perf_counter() - start


def best_of(repeat, *args, **kwargs):
    return min(timed(*args, **kwargs) for _ in range(repeat))


def as_vectors(results_path, requests_path, vectors_path):
    """The reference's results as a vector file for check.py (kind from the requests)."""
    kinds = {}
    with open(requests_path) as f:
        for line in f:
            r = json.loads(line)
            kinds[r["id"]] = r["kind"]
    with open(results_path) as f, open(vectors_path, "w") as out:
        for line in f:
            r = json.loads(line)
            out.write(json.dumps({"id": r["id"], "kind": kinds[r["id"]], "expected": r["reward"]}) + "\n")


def check(vectors, actual):
    res = subprocess.run([sys.executable, str(CHECK), str(vectors), str(actual)], capture_output=True, text=True)
    last = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else res.stderr
    if res.returncode != 0:
        sys.exit(f"parity check failed:\n{res.stdout}{res.stderr}")
    return last


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(ROOT / "target/release/agentless-mini"))
    ap.add_argument(
        "--python",
        default=os.environ.get("UNIDIFF075_PYTHON", sys.executable),
        help="a Python with unidiff==0.7.5 for the reference (default: $UNIDIFF075_PYTHON, else this one)",
    )
    ap.add_argument("--per-instance", type=int, default=4, help="synthetic requests of each kind per instance")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the command (best kept); the reference runs once")
    ap.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)))
    a = ap.parse_args()
    ver = subprocess.run([a.python, "-c", "import unidiff; print(unidiff.VERSION)"], capture_output=True, text=True)
    if ver.stdout.strip() != "0.7.5":
        sys.exit(f"{a.python} needs unidiff==0.7.5 (found {ver.stdout.strip() or ver.stderr.strip()})")
    if not Path(a.bin).exists():
        sys.exit(f"{a.bin} not found: cargo build --release first")
    cpu0 = min(os.sched_getaffinity(0))
    cpu_info = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {cpu_info or '?'}, {a.cores} cores; python {subprocess.run([a.python, '-V'], capture_output=True, text=True).stdout.strip()}")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        synth = tmp / "synthetic.jsonl"
        n_synth = synthetic_batch(a.bin, a.per_instance, synth)
        inputs = [("public vectors", VECTORS, sum(1 for _ in open(VECTORS))), (f"synthetic Verified x{a.per_instance}", synth, n_synth)]
        ref = lambda jobs: [a.python, str(REFERENCE), "--jobs", str(jobs)]
        rust = lambda threads: [a.bin, "-q", "reward", "--threads", str(threads)]
        rows = []
        for name, path, n in inputs:
            ref_out, rs_out = tmp / "ref.jsonl", tmp / "rs.jsonl"
            t_ref1 = timed(ref(1), path, ref_out, pin=pin_to(cpu0))
            t_rs1 = best_of(a.repeat, rust(1), path, rs_out, pin=pin_to(cpu0))
            # Parity before speed: the reference against swe-rl's numbers, the command against it.
            if path == VECTORS:
                print(f"  reference on {name}: {check(VECTORS, ref_out)}")
            ref_vectors = tmp / "ref-vectors.jsonl"
            as_vectors(ref_out, path, ref_vectors)
            print(f"  command vs reference on {name}: {check(ref_vectors, rs_out)}")
            t_refn = timed(ref(a.cores), path, tmp / "refn.jsonl")
            t_rsn = best_of(a.repeat, rust(a.cores), path, tmp / "rsn.jsonl")
            rows.append((name, n, t_ref1, t_rs1, t_refn, t_rsn))

    print()
    print(f"| input | requests | CPython, 1 core | agentless-mini, 1 core | speed-up | CPython, {a.cores} cores | agentless-mini, {a.cores} cores | speed-up | command scaling 1 -> {a.cores} |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, n, t_ref1, t_rs1, t_refn, t_rsn in rows:
        print(
            f"| {name} | {n} | {t_ref1:.2f} s | {t_rs1:.3f} s | **{t_ref1 / t_rs1:.0f}x** | {t_refn:.2f} s | {t_rsn:.3f} s"
            f" | **{t_refn / t_rsn:.0f}x** | {t_rs1 / t_rsn:.2f}x |"
        )
    print("\nWhole-process wall times (startup included); the command: best of", a.repeat, "runs; the reference: one run.")


if __name__ == "__main__":
    main()
