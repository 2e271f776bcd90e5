#!/usr/bin/env python3
"""The SWE-RL reward in plain CPython: the reference side of scripts/bench_reward.py.

Written from the behaviour described in ../shared/reference/agentless-mini.md section 3 and
../shared/data/reward-vectors/README.md (not copied from swe-rl): CPython's difflib for the
diffs and ratios, unidiff (0.7.5, as swe-rl pinned it) for parsing unified diffs. It reads the
same JSONL requests as `agentless-mini reward` and writes `{"id", "reward"}` lines, so
../shared/data/reward-vectors/check.py can check it too.

usage: swerl_reward_reference.py [--jobs N] < requests.jsonl > results.jsonl
Needs: pip install unidiff==0.7.5
"""
import argparse
import difflib
import json
import multiprocessing
import re
import sys

import unidiff
from unidiff import PatchSet
from unidiff.errors import UnidiffParseError

EDIT_BLOCK = re.compile(
    r"```.*?\n### (.*)\n<<<<<<< SEARCH\n([\s\S]*?)\n=======\n([\s\S]*?)\n>>>>>>> REPLACE\n```"
)
TAGS = ("<think>", "</think>", "<solution>", "</solution>")


class Malformed(Exception):
    """The model output does not follow the format: reward -1."""


def split_answer(output):
    for tag in TAGS:
        if output.count(tag) != 1:
            raise Malformed(f"{tag} occurs {output.count(tag)} times")
    thought = output.split("<think>")[1].split("</think>")[0].strip()
    answer = output.split("<solution>")[1].split("</solution>")[0].strip()
    if not thought:
        raise Malformed("empty thought")
    return answer


def edited_files(files, answer):
    edits = {}
    for path, search, replace in EDIT_BLOCK.findall(answer):
        edits.setdefault(path, []).append((search, replace))
    if not edits:
        raise Malformed("no edits")
    result = {}
    for path, pairs in edits.items():
        text = "\n" + files.get(path, "")
        for search, replace in pairs:
            if search == replace:
                raise Malformed("search == replace")
            if "\n" + search not in text:
                raise Malformed("search not found")
            text = text.replace("\n" + search, "\n" + replace)
        result[path] = text[1:]
    return result


def line_diff(old, new):
    lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(), "old", "new", lineterm="", n=3))
    return "\n".join(lines[2:])


def file_diffs(files, new_files):
    out = {}
    for path, new in new_files.items():
        d = line_diff(files.get(path, ""), new)
        if d:
            out[path] = d
    return out


def mean_similarity(pred, oracle):
    paths = set(pred) | set(oracle)
    if not paths:
        return 1.0
    total = 0.0
    for path in paths:
        a, b = pred.get(path, ""), oracle.get(path, "")
        if a and b:
            total += difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()
    return total / len(paths)


def search_replace(req):
    files = req["code_context"]
    try:
        pred = edited_files(files, split_answer(req["output"]))
    except Malformed:
        return -1.0
    return mean_similarity(file_diffs(files, pred), file_diffs(files, req["oracle_new_content"]))


def patch_files(text):
    try:
        patch = PatchSet(text)
    except UnidiffParseError:
        return {}
    except Exception:  # unidiff also fails with UnboundLocalError, AttributeError, ...
        return {}
    out = {}
    for f in patch:
        if f.is_binary_file:
            continue
        head, path = "", f.path
        if f.is_rename:
            src = f.source_file[2:] if f.source_file.startswith("a/") else f.source_file
            dst = f.target_file[2:] if f.target_file.startswith("b/") else f.target_file
            head, path = f"rename from {src} to {dst}", src
        out[path] = (head + "\n" + "\n".join(str(h).strip() for h in f)).strip()
    return out


def from_unidiff(req):
    oracle, pred = {}, {}
    for text in req["oracle_patches"]:
        oracle.update(patch_files(text))
    for text in req["pred_patches"]:
        pred.update(patch_files(text))
    return mean_similarity(pred, oracle)


def score(line):
    req = json.loads(line)
    fn = search_replace if req["kind"] == "search_replace" else from_unidiff
    return json.dumps({"id": req["id"], "reward": fn(req)})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    args = ap.parse_args()
    if unidiff.VERSION != "0.7.5":
        print(f"warning: unidiff {unidiff.VERSION}, swe-rl's numbers need 0.7.5", file=sys.stderr)
    lines = (l for l in sys.stdin if l.strip())
    out = sys.stdout
    if args.jobs == 1:
        for line in lines:
            out.write(score(line) + "\n")
    else:
        with multiprocessing.Pool(args.jobs) as pool:
            for result in pool.imap(score, lines, chunksize=8):
                out.write(result + "\n")


if __name__ == "__main__":
    main()
