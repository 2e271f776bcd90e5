#!/usr/bin/env python3
"""The repair post-processing of a sample done the way the Python reference does it, for the
side-by-side benchmark `cargo bench --bench repair_samples`: SEARCH/REPLACE edits read from
```python blocks and applied by substring replacement, the diff taken with `git diff` in a
throw-away repository, `ast.parse` as the syntax check, and the normalized patch made from
`ast.unparse` plus comment/docstring removal with `tokenize` and a second `git diff`.
Written for this project (not upstream code). Prints samples per second on its last line.

    python3 scripts/bench_repair_reference.py CASES.json [--seconds 3]
"""
import ast
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import tokenize

BLOCK = re.compile(r"```python\n(.*?)\n```", re.DOTALL)


def edits_by_file(answer):
    out = {}
    for block in BLOCK.findall(answer):
        name = None
        for piece in block.split(">>>>>>> REPLACE")[:-1]:
            piece = piece.strip()
            if "<<<<<<< SEARCH" in piece:
                head = piece.split("<<<<<<< SEARCH")[0].lstrip("#").strip()
                if head:
                    name = head
            parts = piece.split("<<<<<<< SEARCH")
            if len(parts) != 2 or name is None:
                continue
            cmd = "<<<<<<< SEARCH" + parts[1] + "\n>>>>>>> REPLACE"
            if cmd not in out.setdefault(name, []):
                out[name].append(cmd)
    return out


def apply(cmds, content):
    ok = []
    for c in cmds:
        body = "\n".join(c.splitlines()[1:-1])
        halves = body.split("\n=======\n")
        if len(halves) == 2 and halves[0] in content:
            ok.append(halves)
    for s, r in ok:
        content = content.replace(s, r)
    return content


def git_diff(paths, olds, news):
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(["git", "init", "-q"], cwd=d, check=True)
        for p, o in zip(paths, olds):
            os.makedirs(os.path.join(d, os.path.dirname(p)), exist_ok=True)
            with open(os.path.join(d, p), "w") as f:
                f.write(o)
            subprocess.run(["git", "add", p], cwd=d, check=True)
            subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "i"], cwd=d, check=True)
        for p, n in zip(paths, news):
            with open(os.path.join(d, p), "w") as f:
                f.write(n)
        return subprocess.run(["git", "diff", "."], cwd=d, capture_output=True, text=True).stdout


def strip_comments_docstrings(src):
    out, prev, last_line, last_col = "", tokenize.INDENT, -1, 0
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        kind, text, (sl, sc), (el, ec), _ = tok
        if sl > last_line:
            last_col = 0
        if sc > last_col:
            out += " " * (sc - last_col)
        if kind == tokenize.COMMENT:
            pass
        elif kind == tokenize.STRING and (prev in (tokenize.INDENT, tokenize.NEWLINE) or sc == 0):
            pass
        else:
            out += text
        prev, last_col, last_line = kind, ec, el
    return "\n".join(line for line in out.splitlines() if line.strip())


def normalize(paths, olds, news):
    def norm(code):
        try:
            code = ast.unparse(ast.parse(code))
        except SyntaxError:
            return code
        try:
            stripped = strip_comments_docstrings(code)
            ast.parse(stripped)
            return stripped
        except (SyntaxError, tokenize.TokenError):
            return code
    return git_diff(paths, [norm(o) for o in olds], [norm(n) for n in news])


def process(case):
    files = dict(case["files"])
    paths, olds, news = [], [], []
    for name, cmds in edits_by_file(case["answer"]).items():
        if name not in files:
            continue
        new = apply(cmds, files[name])
        paths.append(name)
        olds.append(files[name])
        news.append(new)
    if not paths:
        return ""
    patch = git_diff(paths, olds, news)
    try:
        for n in news:
            ast.parse(n)
    except SyntaxError:
        return ""
    if "".join(l for n in news for l in n.splitlines() if l.strip()) == "".join(l for o in olds for l in o.splitlines() if l.strip()):
        return ""
    normalize(paths, olds, news)
    return patch


def main():
    cases = json.load(open(sys.argv[1]))
    seconds = float(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else 3.0
    start, n = time.time(), 0
    while time.time() - start < seconds:
        for c in cases:
            process(c)
            n += 1
    print(f"{n / (time.time() - start):.2f}")


if __name__ == "__main__":
    main()
