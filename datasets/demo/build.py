#!/usr/bin/env python3
"""Build datasets/demo/instances.jsonl from the hand-written demo instances.

Sources (all under datasets/demo/):
  repos/<name>/            the buggy repository tree at its base commit (with its existing tests)
  specs/<name>/gold.diff   the gold fix (`git diff` output against the base tree)
  specs/<name>/test.diff   the test changes (`git diff` output; modifies existing test files only)
  specs/<name>/issue.md    the problem statement (first line: the issue title)
  specs/<name>/meta.json   {"number": N, "created_at": ISO, "difficulty": "..."}

What it does, per instance: commits the tree with the fixed recipe (README.md, "Base commit") to get
`base_commit`; checks both diffs apply; runs the test files touched by test.diff with pytest before
and after the gold patch (test.diff applied both times) to derive FAIL_TO_PASS (fails before, passes
after) and PASS_TO_PASS (passes both times) the way SWE-bench validation does; refuses an instance
where any test still fails after the fix, or where FAIL_TO_PASS is empty; writes the eval script in
the official 4.x shape. Uses only the standard library plus `git` and a Python with pytest
(`--python`, default `python3`; Debian bookworm's python3-pytest is 7.2.1).

    python3 datasets/demo/build.py [--python /path/to/python-with-pytest] [--check]

`--check` writes nothing and fails if instances.jsonl is not what the sources give.
"""

import argparse
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

DEMO = Path(__file__).resolve().parent
REPOS = DEMO / "repos"
SPECS = DEMO / "specs"
OUTPUT = DEMO / "instances.jsonl"

OWNER = "agentless-demo"
HEREDOC = "EOF_114329324912"
COMMIT_DATE = "2024-01-01T00:00:00+0000"
COMMIT_NAME = "agentless-mini"
COMMIT_EMAIL = "demo@agentless-mini.invalid"
# the official 4.x directive filter (`get_test_directives`); "csv" has no dot there either
NON_TEST_EXTS = (".json", ".png", "csv", ".txt", ".md", ".jpg", ".jpeg", ".pkl", ".yml", ".yaml", ".toml")
STATUSES = ("PASSED", "FAILED", "SKIPPED", "ERROR", "XFAIL")
STRAY_NAMES = {"__pycache__", ".pytest_cache", ".git", ".mypy_cache", ".tox"}
STRAY_SUFFIXES = (".pyc", ".pyo", ".orig", ".rej", "~")


class BuildError(Exception):
    pass


def git_env(home):
    """An environment in which no user or system git config changes what git does."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=str(Path(home) / ".gitconfig"),
        GIT_AUTHOR_DATE=COMMIT_DATE,
        GIT_COMMITTER_DATE=COMMIT_DATE,
        LC_ALL="C.UTF-8",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def run(cmd, cwd, env, stdin=None, check=True):
    proc = subprocess.run(cmd, cwd=cwd, env=env, input=stdin, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise BuildError(f"{' '.join(map(str, cmd))} failed in {cwd} ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc


def check_tree(tree):
    """Refuse trees that would not commit to the same SHA everywhere (stray or executable files)."""
    problems = []
    for path in sorted(tree.rglob("*")):
        rel = path.relative_to(tree)
        if path.name in STRAY_NAMES or path.name.endswith(STRAY_SUFFIXES):
            problems.append(f"{rel}: stray file (remove it)")
        elif path.is_symlink():
            problems.append(f"{rel}: symlink")
        elif path.is_file() and path.stat().st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH):
            problems.append(f"{rel}: executable (chmod -x)")
    if problems:
        raise BuildError(f"{tree}:\n  " + "\n  ".join(problems))


def materialize(tree, dest, home):
    """Copy `tree` to `dest` and commit it with the demo recipe; returns the commit SHA."""
    check_tree(tree)
    shutil.copytree(tree, dest)
    env = git_env(home)
    run(["git", "init", "-q"], dest, env)
    run(["git", "add", "-A"], dest, env)
    run(["git", "-c", f"user.name={COMMIT_NAME}", "-c", f"user.email={COMMIT_EMAIL}", "commit", "-q", "-m", "base"], dest, env)
    ignored = run(["git", "status", "--porcelain", "--ignored"], dest, env).stdout.strip()
    if ignored:
        raise BuildError(f"{tree}: files git does not commit (ignored or untracked):\n{ignored}")
    return run(["git", "rev-parse", "HEAD"], dest, env).stdout.strip()


def diff_paths(diff):
    """(pre-image paths of modified/deleted files, all target paths) of a `git diff`."""
    modified, targets = [], []
    for match in re.finditer(r"^diff --git a/(\S+) b/(\S+)$", diff, re.M):
        targets.append(match.group(2))
    for match in re.finditer(r"^--- (\S+)$", diff, re.M):
        if match.group(1) != "/dev/null":
            modified.append(match.group(1)[2:])
    return modified, targets


def test_files(test_patch):
    modified, targets = diff_paths(test_patch)
    if sorted(modified) != sorted(targets):
        raise BuildError("test.diff may only modify existing files (the eval script resets them with git checkout)")
    return [t for t in targets if not t.endswith(NON_TEST_EXTS)]


def eval_script(base_commit, test_patch):
    """The official 4.x eval script (make_eval_script_list_py) for the demo image: no conda, no install."""
    files = " ".join(test_files(test_patch))
    lines = [
        "#!/bin/bash",
        "set -uxo pipefail",
        "cd /testbed",
        "git config --global --add safe.directory /testbed",
        "cd /testbed",
        "git status",
        "git show",
        f"git -c core.fileMode=false diff {base_commit}",
        f"git checkout {base_commit} {files}",
        f"git apply -v - <<'{HEREDOC}'\n{test_patch}\n{HEREDOC}",
        ": '>>>>> Start Test Output'",
        f"python3 -m pytest -rA {files}",
        ": '>>>>> End Test Output'",
        f"git checkout {base_commit} {files}",
    ]
    return "\n".join(lines) + "\n"


def parse_log_pytest(log):
    """The official parse_log_pytest (4.x)."""
    status_map = {}
    for line in log.split("\n"):
        if any(line.startswith(s) for s in STATUSES):
            if line.startswith("FAILED"):
                line = line.replace(" - ", " ")
            parts = line.split()
            if len(parts) > 1:
                status_map[parts[1]] = parts[0]
    return status_map


def run_tests(repo, files, python, env):
    proc = run([python, "-m", "pytest", "-rA", "-p", "no:cacheprovider", *files], repo, env, check=False)
    return parse_log_pytest(proc.stdout), proc.stdout


def apply(repo, patch, env, what):
    run(["git", "apply", "--check", "-"], repo, env, stdin=patch)
    run(["git", "apply", "-"], repo, env, stdin=patch)


def read_spec(name):
    spec = SPECS / name
    meta = json.loads((spec / "meta.json").read_text(encoding="utf-8"))
    issue = (spec / "issue.md").read_text(encoding="utf-8")
    gold = (spec / "gold.diff").read_text(encoding="utf-8")
    test = (spec / "test.diff").read_text(encoding="utf-8")
    for key in ("number", "created_at", "difficulty"):
        if key not in meta:
            raise BuildError(f"{spec}/meta.json lacks {key!r}")
    return meta, issue, gold, test


def build_instance(name, python, work):
    meta, issue, gold, test = read_spec(name)
    home = work / "home"
    home.mkdir(exist_ok=True)
    env = git_env(home)
    repo = work / name
    sha = materialize(REPOS / name, repo, home)
    gold_modified, gold_targets = diff_paths(gold)
    if any(p.startswith("tests/") or "/tests/" in p for p in gold_targets):
        raise BuildError(f"{name}: gold.diff touches test files")
    files = test_files(test)
    apply(repo, test, env, "test.diff")
    before, before_log = run_tests(repo, files, python, env)
    apply(repo, gold, env, "gold.diff")
    after, after_log = run_tests(repo, files, python, env)
    if not after:
        raise BuildError(f"{name}: no test results after the gold patch:\n{after_log}")
    broken = [t for t, s in after.items() if s not in ("PASSED", "XFAIL", "SKIPPED")]
    if broken:
        raise BuildError(f"{name}: tests fail with the gold patch: {broken}\n{after_log}")
    f2p = [t for t, s in after.items() if s == "PASSED" and before.get(t) != "PASSED"]
    p2p = [t for t, s in after.items() if s == "PASSED" and before.get(t) == "PASSED"]
    if not f2p:
        raise BuildError(f"{name}: nothing fails before the gold patch:\n{before_log}")
    return {
        "repo": f"{OWNER}/{name}",
        "instance_id": f"{OWNER}__{name}-{meta['number']}",
        "base_commit": sha,
        "patch": gold,
        "test_patch": test,
        "problem_statement": issue,
        "hints_text": "",
        "created_at": meta["created_at"],
        "version": "1.0",
        "FAIL_TO_PASS": json.dumps(f2p),
        "PASS_TO_PASS": json.dumps(p2p),
        "environment_setup_commit": sha,
        "difficulty": meta["difficulty"],
        "eval_script": eval_script(sha, test),
        "log_parser": "parse_log_pytest",
        "eval_type": "pass_and_fail",
        "image": None,
    }


def names():
    found = sorted(p.name for p in SPECS.iterdir() if p.is_dir())
    missing = [n for n in found if not (REPOS / n).is_dir()]
    if missing:
        raise BuildError(f"specs without a repository tree: {missing}")
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", default="python3", help="a Python with pytest (default: python3)")
    parser.add_argument("--check", action="store_true", help="fail if instances.jsonl is out of date; write nothing")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="demo-build-") as tmp:
        for name in names():
            row = build_instance(name, args.python, Path(tmp))
            f2p, p2p = json.loads(row["FAIL_TO_PASS"]), json.loads(row["PASS_TO_PASS"])
            print(f"{row['instance_id']}: base {row['base_commit'][:12]}  F2P {len(f2p)}  P2P {len(p2p)}", file=sys.stderr)
            rows.append(row)
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is out of date: run datasets/demo/build.py", file=sys.stderr)
            return 1
        print(f"{OUTPUT} is up to date ({len(rows)} instances)", file=sys.stderr)
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {len(rows)} instances to {OUTPUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
