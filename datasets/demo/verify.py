#!/usr/bin/env python3
"""Verify the demo split end to end, in temporary folders, without Docker.

For every row of datasets/demo/instances.jsonl:
  1. the row has every SWE-bench column with the right type and shape;
  2. the repository tree commits to `base_commit` with the documented recipe (literally the shell
     commands of docker/demo/instance.Dockerfile), and `environment_setup_commit` is the same SHA;
  3. `patch` and `test_patch` are `git diff` output that `git apply` accepts at the base commit, and
     `eval_script` is the official 4.x shape for that row;
  4. the eval script runs (with /testbed replaced by a temporary copy, HOME by a temporary folder,
     `python3` by --python) with no patch, with the gold patch, and with every hand-written sample of
     datasets/demo/samples/ (SEARCH/REPLACE edits applied as Agentless Mini does, turned into a diff
     with git): the log is graded here with the official parse_log_pytest + pass_and_fail rules
     (no patch: every FAIL_TO_PASS test FAILS, every PASS_TO_PASS test PASSES; gold: all pass), and
     after the run the test files are back at the base commit;
  5. the same logs are graded by the project's own grader (`agentless-mini grade`): gold and the
     `correct*` samples must be resolved; no patch, `wrong` and `malformed` must not; the Rust and
     Python verdicts must agree;
  6. instances.jsonl is what build.py derives from the sources (FAIL_TO_PASS/PASS_TO_PASS re-derived);
  7. with --docker: every patch of steps 4-5 through `agentless-mini evaluate` in the real demo images
     (built from Debian's packages when missing) gives the same verdicts.

    cargo build --bin agentless-mini
    python3 datasets/demo/verify.py --python /path/to/python-with-pytest [--keep DIR]

Exit status 0 when everything holds, 1 otherwise (each failure is printed).
"""

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

sys.dont_write_bytecode = True  # leave no __pycache__ beside the sources
sys.path.insert(0, str(Path(__file__).resolve().parent))
import build  # noqa: E402  (the generator: eval_script, parse_log_pytest, recipe constants)

DEMO = build.DEMO
ROOT = DEMO.parent.parent
SAMPLES = DEMO / "samples"

COLUMNS = [
    "repo", "instance_id", "base_commit", "patch", "test_patch", "problem_statement", "hints_text",
    "created_at", "version", "FAIL_TO_PASS", "PASS_TO_PASS", "environment_setup_commit", "difficulty",
    "eval_script", "log_parser", "eval_type", "image",
]
DIFFICULTIES = {"<15 min fix", "15 min - 1 hour", "1-4 hours", ">4 hours"}
LABELS = {"correct": "resolved", "correct_reformatted": "resolved", "wrong": "unresolved", "malformed": "no_edit"}
START, END = ">>>>> Start Test Output", ">>>>> End Test Output"
# literally the commit recipe of docker/demo/instance.Dockerfile and the README
RECIPE = (
    'git init -q && git add -A && GIT_AUTHOR_DATE="2024-01-01T00:00:00+0000" '
    'GIT_COMMITTER_DATE="2024-01-01T00:00:00+0000" '
    "git -c user.name=agentless-mini -c user.email=demo@agentless-mini.invalid commit -q -m base "
    "&& git rev-parse HEAD"
)


class Checker:
    def __init__(self):
        self.failures = []
        self.passes = 0

    def check(self, ok, what):
        if ok:
            self.passes += 1
        else:
            self.failures.append(what)
            print(f"FAIL {what}", file=sys.stderr)
        return ok


# ------------------------------------------------------------------ Agentless Mini edits


def parse_search_replace(output):
    """{path: [(search, replace)]} from a model answer, the way Agentless Mini's repair parses it:
    only ```python fenced blocks; edits split on `>>>>>>> REPLACE`; the file name is the text before
    `<<<<<<< SEARCH` without leading '#'/whitespace (inherited when absent); the body must split on
    "\\n=======\\n" into exactly two parts; identical edits are kept once."""
    edits = {}
    for block in re.findall(r"```python\n(.*?)\n```", output, re.DOTALL):
        current = None
        for piece in block.split(">>>>>>> REPLACE"):
            if "<<<<<<< SEARCH" not in piece:
                continue
            head, body = piece.split("<<<<<<< SEARCH", 1)
            name = head.strip().lstrip("#").strip()
            if name:
                current = name
            if current is None:
                continue
            body = body[1:] if body.startswith("\n") else body
            body = body[:-1] if body.endswith("\n") else body
            parts = body.split("\n=======\n")
            if len(parts) != 2:
                continue
            edit = (parts[0], parts[1])
            if edit not in edits.setdefault(current, []):
                edits[current].append(edit)
    return {path: found for path, found in edits.items() if found}


# the SWE-RL reward's parse (swe-rl reward.py, as ../shared/data/reward-vectors/README.md states it)
REWARD_RE = re.compile(r"```.*?\n### (.*)\n<<<<<<< SEARCH\n([\s\S]*?)\n=======\n([\s\S]*?)\n>>>>>>> REPLACE\n```")


def reward_edits(output):
    """{path: [(search, replace)]} as the SWE-RL reward's regex reads the same answer."""
    edits = {}
    for path, search, replace in REWARD_RE.findall(output):
        if (search, replace) not in edits.setdefault(path, []):
            edits[path].append((search, replace))
    return edits


def apply_edits(repo, edits, allowed):
    """Apply edits with str.replace (search must occur in the original); returns the edited paths."""
    changed = []
    for path, file_edits in edits.items():
        if path not in allowed or not (repo / path).is_file():
            continue
        original = (repo / path).read_text(encoding="utf-8")
        content = original
        for search, replace in file_edits:
            if search in original:
                content = content.replace(search, replace)
        if content != original:
            (repo / path).write_text(content, encoding="utf-8")
            changed.append(path)
    return changed


def normalize(source):
    """Source without comments, docstrings and formatting (the rerank grouping idea)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree)


# ------------------------------------------------------------------ repos and runs


def env_for(home, python_bin_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PYTHON"))}
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", LC_ALL="C.UTF-8",
               PATH=f"{python_bin_dir}{os.pathsep}{env.get('PATH', '')}")
    return env


def materialize(name, dest, env):
    shutil.copytree(DEMO / "repos" / name, dest)
    proc = subprocess.run(["bash", "-c", RECIPE], cwd=dest, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"commit recipe failed for {name}: {proc.stderr}")
    return proc.stdout.strip()


def git(repo, env, *args, stdin=None):
    return subprocess.run(["git", *args], cwd=repo, env=env, input=stdin, capture_output=True, text=True)


def run_eval(row, repo, patch, env, log_dir):
    """What the harness does in the container: apply the patch, run eval.sh, keep the output."""
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "patch.diff").write_text(patch, encoding="utf-8")
    if patch.strip():
        applied = git(repo, env, "apply", "-v", "-", stdin=patch)
        if applied.returncode != 0:
            (log_dir / "test_output.txt").write_text(">>>>> Patch Apply Failed\n" + applied.stderr, encoding="utf-8")
            return
    (log_dir / "eval.sh").write_text(row["eval_script"], encoding="utf-8")
    script_path = repo.parent / f"{repo.name}.eval.sh"
    script_path.write_text(row["eval_script"].replace("/testbed", str(repo)), encoding="utf-8")
    with open(log_dir / "test_output.txt", "w", encoding="utf-8") as out:
        subprocess.run(["bash", str(script_path)], cwd=repo, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=600)


def grade_py(row, log_text):
    """The official 4.x get_logs_eval + pass_and_fail grading: (status map, resolved)."""
    if START not in log_text or END not in log_text:
        return {}, False
    status = build.parse_log_pytest(log_text.split(START)[1].split(END)[0])
    passed = lambda t: status.get(t) in ("PASSED", "XFAIL")  # noqa: E731
    tests = json.loads(row["FAIL_TO_PASS"]) + json.loads(row["PASS_TO_PASS"])
    return status, all(passed(t) for t in tests)


# ------------------------------------------------------------------ checks


def check_row(c, row):
    iid = row.get("instance_id", "?")
    c.check(list(row) == COLUMNS, f"{iid}: columns are exactly {COLUMNS} (got {list(row)})")
    name = row["repo"].split("/", 1)[1] if "/" in row["repo"] else ""
    c.check(row["repo"] == f"agentless-demo/{name}" and (DEMO / "repos" / name).is_dir(), f"{iid}: repo names a tree under repos/")
    c.check(re.fullmatch(rf"agentless-demo__{re.escape(name)}-\d+", iid) is not None, f"{iid}: instance_id is agentless-demo__<name>-<n>")
    c.check(re.fullmatch(r"[0-9a-f]{40}", row["base_commit"]) is not None, f"{iid}: base_commit is a SHA")
    c.check(row["environment_setup_commit"] == row["base_commit"], f"{iid}: environment_setup_commit == base_commit")
    for key in ("patch", "test_patch"):
        c.check(row[key].startswith("diff --git a/") and row[key].endswith("\n"), f"{iid}: {key} is a git diff")
    for key in COLUMNS:
        if key != "image":
            c.check(isinstance(row[key], str), f"{iid}: {key} is a string")
    c.check(row["image"] is None, f"{iid}: image is null")
    c.check(row["hints_text"] == "" and row["version"] == "1.0", f"{iid}: hints_text empty, version 1.0")
    c.check(row["log_parser"] == "parse_log_pytest" and row["eval_type"] == "pass_and_fail", f"{iid}: parser and eval type")
    c.check(row["difficulty"] in DIFFICULTIES, f"{iid}: difficulty is one of Verified's")
    try:
        datetime.fromisoformat(row["created_at"].replace("Z", "+00:00"))
        ok = True
    except ValueError:
        ok = False
    c.check(ok, f"{iid}: created_at is ISO-8601")
    c.check(len(row["problem_statement"]) > 200 and "diff --git" not in row["problem_statement"], f"{iid}: problem_statement is an issue text")
    for key in ("FAIL_TO_PASS", "PASS_TO_PASS"):
        ids = json.loads(row[key])
        c.check(isinstance(ids, list) and ids and all(re.fullmatch(r"tests/test_\w+\.py::\w+(\[[^\]\s]+\])?", t) for t in ids),
                f"{iid}: {key} is a non-empty JSON list of pytest node ids")
    f2p, p2p = json.loads(row["FAIL_TO_PASS"]), json.loads(row["PASS_TO_PASS"])
    c.check(not set(f2p) & set(p2p) and len(set(f2p + p2p)) == len(f2p + p2p), f"{iid}: F2P and P2P are disjoint, no duplicates")
    c.check(row["eval_script"] == build.eval_script(row["base_commit"], row["test_patch"]), f"{iid}: eval_script is the official 4.x shape")
    lines = row["eval_script"].split("\n")
    files = build.test_files(row["test_patch"])
    c.check(lines[:3] == ["#!/bin/bash", "set -uxo pipefail", "cd /testbed"] and "conda" not in row["eval_script"],
            f"{iid}: eval_script header, no conda")
    checkouts = [l for l in lines if l.startswith("git checkout ")]
    c.check(len(checkouts) == 2 and all(l == f"git checkout {row['base_commit']} {' '.join(files)}" for l in checkouts) and files,
            f"{iid}: eval_script resets exactly the test files, never a bare checkout")
    c.check(f"python3 -m pytest -rA {' '.join(files)}" in lines, f"{iid}: eval_script runs pytest -rA on the test files")
    c.check(all(t.split("::")[0] in files for t in f2p + p2p), f"{iid}: every test id is in a file the eval script runs")


def verify_instance(c, row, args, work, logs):
    iid, name = row["instance_id"], row["repo"].split("/", 1)[1]
    home = work / "home"
    home.mkdir(exist_ok=True)
    env = env_for(home, args.bin_dir)
    f2p, p2p = json.loads(row["FAIL_TO_PASS"]), json.loads(row["PASS_TO_PASS"])
    files = build.test_files(row["test_patch"])

    sha = materialize(name, work / f"{name}-sha", env)
    c.check(sha == row["base_commit"], f"{iid}: the recipe commits repos/{name} to {row['base_commit']} (got {sha})")
    tracked = git(work / f"{name}-sha", env, "ls-files", "-s").stdout.split("\n")
    c.check(all(l.startswith("100644 ") for l in tracked if l), f"{iid}: every committed file is 100644")
    for key in ("patch", "test_patch"):
        c.check(git(work / f"{name}-sha", env, "apply", "--check", "-", stdin=row[key]).returncode == 0, f"{iid}: {key} applies at base")

    # "noop" changes only README.md: unlike an empty patch (graded as no patch at all), its log is graded
    noop_repo = work / f"{name}-noop-edit"
    materialize(name, noop_repo, env)
    with open(noop_repo / "README.md", "a", encoding="utf-8") as readme:
        readme.write("\nSee the issue tracker for known problems.\n")
    noop = git(noop_repo, env, "diff").stdout
    runs = [("nopatch", "", "unresolved"), ("noop", noop, "unresolved"), ("gold", row["patch"], "resolved")]
    sample_file = SAMPLES / f"{iid}.json"
    if c.check(sample_file.is_file(), f"{iid}: samples/{iid}.json exists"):
        sample = json.loads(sample_file.read_text(encoding="utf-8"))
        runs += sample_runs(c, row, sample, work, env)

    verdicts = {}
    for label, patch, expect in runs:
        repo = work / f"{name}-{label}"
        materialize(name, repo, env)
        log_dir = logs / label / iid
        run_eval(row, repo, patch, env, log_dir)
        text = (log_dir / "test_output.txt").read_text(encoding="utf-8")
        status, resolved = grade_py(row, text)
        verdicts[label] = (resolved, expect)
        c.check(resolved == (expect == "resolved"), f"{iid} [{label}]: python grading says resolved={resolved}, expected {expect}")
        if label in ("nopatch", "noop"):
            c.check(all(status.get(t) == "FAILED" for t in f2p), f"{iid} [nopatch]: every FAIL_TO_PASS test fails ({ {t: status.get(t) for t in f2p} })")
            c.check(all(status.get(t) == "PASSED" for t in p2p), f"{iid} [nopatch]: every PASS_TO_PASS test passes")
        if label == "gold":
            c.check(all(status.get(t) == "PASSED" for t in f2p + p2p), f"{iid} [gold]: every listed test passes")
            c.check(set(status) == set(f2p + p2p), f"{iid} [gold]: the lists cover every test the eval script runs")
        restored = git(repo, env, "diff", "--quiet", row["base_commit"], "--", *files).returncode == 0
        c.check(restored, f"{iid} [{label}]: the eval script restores the test files")
    return verdicts


def sample_runs(c, row, sample, work, env):
    iid, name = row["instance_id"], row["repo"].split("/", 1)[1]
    c.check(sample.get("instance_id") == iid, f"{iid}: sample file names its instance")
    loc = sample.get("localization", {})
    gold_files = build.diff_paths(row["patch"])[1]
    loc_lines = loc.get("output", "").strip().split("\n")
    c.check(loc.get("files") and all(f in loc_lines for f in loc["files"]), f"{iid}: localization output lists its files one per line")
    c.check(all((DEMO / "repos" / name / f).is_file() and not f.startswith("tests/") for f in loc.get("files", [])),
            f"{iid}: localization names real non-test files")
    c.check(set(gold_files) <= set(loc.get("files", [])), f"{iid}: localization covers the gold patch's files")
    labels = [r.get("label") for r in sample.get("repair", [])]
    c.check(sorted(labels) == sorted(LABELS), f"{iid}: one repair sample per label {sorted(LABELS)} (got {labels})")
    runs, contents = [], {}
    for entry in sample.get("repair", []):
        label = entry["label"]
        c.check(entry.get("expect") == LABELS.get(label), f"{iid} [{label}]: expect is {LABELS.get(label)}")
        edits = parse_search_replace(entry["output"])
        c.check(edits == reward_edits(entry["output"]), f"{iid} [{label}]: the repair parse and the SWE-RL reward regex read the same edits")
        repo = work / f"{name}-edit-{label}"
        materialize(name, repo, env)
        changed = apply_edits(repo, edits, set(loc.get("files", [])))
        if label == "malformed":
            c.check(not changed, f"{iid} [malformed]: no edit survives parsing")
        else:
            c.check(bool(changed), f"{iid} [{label}]: the edits parse and apply")
        for path in changed:
            source = (repo / path).read_text(encoding="utf-8")
            try:
                contents.setdefault(label, {})[path] = normalize(source)
            except SyntaxError:
                c.check(False, f"{iid} [{label}]: {path} parses after the edit")
        git(repo, env, "add", "-A")
        patch = git(repo, env, "diff", "--cached").stdout
        contents.setdefault(f"{label}:raw", {})["patch"] = patch
        runs.append((f"sample-{label}", patch, "unresolved" if label == "malformed" else LABELS[label]))
    if "correct" in contents and "correct_reformatted" in contents:
        c.check(contents["correct"] == contents["correct_reformatted"], f"{iid}: correct and correct_reformatted normalize to the same code")
        c.check(contents["correct:raw"] != contents["correct_reformatted:raw"], f"{iid}: correct and correct_reformatted differ as text")
    return runs


def grade_rust(c, args, logs, out, verdicts, rows):
    labels = sorted({label for v in verdicts.values() for label in v})
    for label in labels:
        dest = out / label
        proc = subprocess.run([str(args.grader), "grade", "--dataset", str(DEMO / "instances.jsonl"),
                               "--logs", str(logs / label), "--out", str(dest)], capture_output=True, text=True)
        c.check(proc.returncode in (0, 1), f"grader on {label}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}")
        for iid, by_label in verdicts.items():
            if label not in by_label:
                continue
            report_path = dest / iid / "report.json"
            if not c.check(report_path.is_file(), f"{iid} [{label}]: grader wrote {report_path}"):
                continue
            report = json.loads(report_path.read_text(encoding="utf-8"))[iid]
            py_resolved, expect = by_label[label]
            c.check(report["resolved"] == (expect == "resolved"), f"{iid} [{label}]: agentless-mini grade says resolved={report['resolved']}, expected {expect}")
            c.check(report["resolved"] == py_resolved, f"{iid} [{label}]: agentless-mini grade agrees with the python grading")
            f2p, p2p = json.loads(rows[iid]["FAIL_TO_PASS"]), json.loads(rows[iid]["PASS_TO_PASS"])
            status = report.get("tests_status", {})
            if label == "gold":
                c.check(status.get("FAIL_TO_PASS") == {"success": f2p, "failure": []} and status.get("PASS_TO_PASS") == {"success": p2p, "failure": []},
                        f"{iid} [gold]: agentless-mini grade lists every F2P and P2P test as success")
            if label == "noop":
                c.check(status.get("FAIL_TO_PASS") == {"success": [], "failure": f2p} and status.get("PASS_TO_PASS") == {"success": p2p, "failure": []},
                        f"{iid} [noop]: agentless-mini grade lists every F2P test as failure and every P2P test as success")
            if label == "nopatch":
                c.check(report.get("patch_is_None") is True, f"{iid} [nopatch]: agentless-mini grade reports no patch")


def evaluate_docker(c, args, logs, tmp, verdicts):
    """The same patches through `agentless-mini evaluate` in the real demo images: same verdicts."""
    labels = sorted({label for v in verdicts.values() for label in v})
    for label in labels:
        preds = tmp / f"{label}.jsonl"
        with open(preds, "w", encoding="utf-8") as out:
            for iid in sorted(verdicts):
                patch = (logs / label / iid / "patch.diff").read_text(encoding="utf-8")
                out.write(json.dumps({"instance_id": iid, "model_name_or_path": label, "model_patch": patch}) + "\n")
        run_id = f"demo-verify-{os.getpid()}-{label}"
        proc = subprocess.run(
            [str(args.grader), "evaluate", "--dataset", str(DEMO / "instances.jsonl"), "--demo-repos", str(DEMO / "repos"),
             "--predictions", str(preds), "--run-id", run_id, "--no-progress", "--report-dir", str(tmp)],
            cwd=tmp, capture_output=True, text=True, timeout=1800)
        report_path = tmp / f"{label}.{run_id}.json"
        if not c.check(report_path.is_file(), f"evaluate [{label}]: wrote {report_path.name} (exit {proc.returncode})\n{proc.stderr[-3000:]}"):
            continue
        report = json.loads(report_path.read_text(encoding="utf-8"))
        expected = sorted(iid for iid, by_label in verdicts.items() if by_label[label][1] == "resolved")
        c.check(sorted(report.get("resolved_ids", [])) == expected, f"evaluate [{label}]: resolved {report.get('resolved_ids')}, expected {expected}")
        c.check(not report.get("error_ids"), f"evaluate [{label}]: no errors ({report.get('error_ids')})")
        print(f"docker [{label}]: {len(report.get('resolved_ids', []))}/{len(verdicts)} resolved", file=sys.stderr)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", default="python3", help="a Python 3 with pytest (default: python3)")
    parser.add_argument("--grader", default=str(ROOT / "target" / "debug" / "agentless-mini"),
                        help="the agentless-mini binary (default: target/debug/agentless-mini; cargo build first)")
    parser.add_argument("--keep", type=Path, help="copy the logs and grader output here")
    parser.add_argument("--skip-build-check", action="store_true", help="do not re-derive instances.jsonl with build.py")
    parser.add_argument("--docker", action="store_true",
                        help="also run every patch through `agentless-mini evaluate` in the demo images (needs Docker)")
    args = parser.parse_args(argv)
    args.grader = Path(args.grader)
    if not args.grader.is_file():
        print(f"error: no grader at {args.grader}: run `cargo build --bin agentless-mini` or pass --grader", file=sys.stderr)
        return 2
    python = shutil.which(args.python) or args.python
    c = Checker()
    rows = [json.loads(line) for line in (DEMO / "instances.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    c.check(len(rows) >= 4, f"at least four instances (got {len(rows)})")
    c.check(len({r["instance_id"] for r in rows}) == len(rows), "instance ids are unique")
    with tempfile.TemporaryDirectory(prefix="demo-verify-") as tmp:
        tmp = Path(tmp)
        args.bin_dir = tmp / "bin"
        args.bin_dir.mkdir()
        wrapper = args.bin_dir / "python3"  # a wrapper, not a symlink: a venv's python must be run by its own path
        wrapper.write_text(f'#!/bin/sh\nexec "{python}" "$@"\n', encoding="utf-8")
        wrapper.chmod(0o755)
        logs, out = tmp / "logs", tmp / "graded"
        verdicts = {}
        for row in rows:
            check_row(c, row)
            work = tmp / "work" / row["instance_id"]
            work.mkdir(parents=True)
            verdicts[row["instance_id"]] = verify_instance(c, row, args, work, logs)
            print(f"{row['instance_id']}: " + ", ".join(f"{k}={'resolved' if v[0] else 'unresolved'}" for k, v in verdicts[row["instance_id"]].items()), file=sys.stderr)
        grade_rust(c, args, logs, out, verdicts, {r["instance_id"]: r for r in rows})
        if args.docker:
            evaluate_docker(c, args, logs, tmp, verdicts)
        if not args.skip_build_check:
            c.check(build.main(["--python", python, "--check"]) == 0, "instances.jsonl is what build.py derives")
        if args.keep:
            shutil.copytree(logs, args.keep / "logs", dirs_exist_ok=True)
            shutil.copytree(out, args.keep / "graded", dirs_exist_ok=True)
    print(f"{c.passes} checks passed, {len(c.failures)} failed", file=sys.stderr)
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
