#!/usr/bin/env python3
"""Python-exact parity of the pipeline's syntax check and voting key, on real code.

Downloads source distributions of the projects behind SWE-bench Verified from the Python package
index (hash-checked, cached under --cache), extracts their .py files, adds mutated copies (the
mistakes SEARCH/REPLACE edits make), and compares, through `agentless-mini pycheck`:

- the syntax check with CPython's `ast.parse` (run this script with CPython 3.11);
- the voting key with a reference written from the description of swe-rl's `normalize_patch`
  (`ast.unparse(ast.parse(x))`, docstrings removed, blank lines dropped, raw text when the
  source does not parse; per-file diff old -> new; when the edit only adds functions and
  changes no existing one, only the +/- lines are kept). Keys are compared as groupings: two
  edits of the same file must share a key under the reference exactly when they share one
  under ours.

Files are deduplicated by content. Files that are not UTF-8 are counted and left out (the
pipeline reads repository files as UTF-8). Files CPython rejects (Python 2 code in old
sdists) are kept: our check must reject them too.

  python3 scripts/python-parity.py --bin target/debug/agentless-mini [--sample 2000] [--json OUT]

Exit status 1 when an unmutated file disagrees; mutated-file disagreements are listed.
"""

import argparse
import ast
import difflib
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import tarfile
import urllib.request
import zipfile

# (project, versions): spread over the years the Verified instances come from.
CORPUS = [
    ("django", ["3.0.14", "4.2.16"]),
    ("sympy", ["1.1.1", "1.12"]),
    ("astropy", ["4.3.1", "5.3.4"]),
    ("matplotlib", ["3.5.3", "3.7.5"]),
    ("sphinx", ["3.5.4", "7.2.6"]),
    ("pytest", ["5.4.3", "8.0.2"]),
    ("pylint", ["2.15.10", "3.0.3"]),
    ("requests", ["2.0.1", "2.31.0"]),
    ("flask", ["2.0.3", "3.0.0"]),
    ("seaborn", ["0.11.2", "0.13.2"]),
    ("xarray", ["0.16.2", "2023.12.0"]),
    ("scikit-learn", ["0.22.2.post1", "1.3.2"]),
]

def _index():
    """AGENTLESS_PYPI_INDEX, else the index this machine's pip uses (scripts/pip-index.py)."""
    given = os.environ.get("AGENTLESS_PYPI_INDEX", "").strip()
    if given:
        return given
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import importlib

    return importlib.import_module("pip-index").index_url()


INDEX = _index()


def sdist(cache, project, version):
    """The cached sdist archive of project==version (downloaded and hash-checked once)."""
    os.makedirs(cache, exist_ok=True)
    req = urllib.request.Request(
        f"{INDEX.rstrip('/')}/{project}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    marker = os.path.join(cache, f"{project}-{version}.name")
    if os.path.exists(marker):
        with open(marker) as f:
            path = os.path.join(cache, f.read().strip())
        if os.path.exists(path):
            return path
    with urllib.request.urlopen(req, timeout=60) as r:
        files = json.load(r)["files"]
    norm = project.replace("-", "_").lower()
    wanted = None
    for f in files:
        name = f["filename"]
        low = name.lower().replace("-", "_")
        for ext in (".tar.gz", ".zip"):
            if low == f"{norm}_{version}{ext}":
                wanted = f
        if wanted:
            break
    if wanted is None:
        raise SystemExit(f"no source distribution of {project} {version} in the index")
    path = os.path.join(cache, wanted["filename"])
    if not os.path.exists(path):
        with urllib.request.urlopen(wanted["url"], timeout=600) as r:
            data = r.read()
        want = wanted.get("hashes", {}).get("sha256")
        if want and hashlib.sha256(data).hexdigest() != want:
            raise SystemExit(f"sha256 mismatch for {wanted['filename']}")
        tmp = path + ".part"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    with open(marker, "w") as f:
        f.write(wanted["filename"])
    return path


def py_files(archive):
    """(member name, bytes) of every .py file in the archive."""
    if archive.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            for n in z.namelist():
                if n.endswith(".py"):
                    yield n, z.read(n)
    else:
        with tarfile.open(archive) as t:
            for m in t:
                if m.isfile() and m.name.endswith(".py"):
                    yield m.name, t.extractfile(m).read()


# ---------------------------------------------------------------- the reference (CPython)


def cpython_ok(src):
    try:
        ast.parse(src)
        return True
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False


def _strip_docstrings(tree):
    """Remove bare string statements; False when a body would be left empty."""
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            if not isinstance(body, list) or not body or not isinstance(body[0], ast.stmt):
                continue
            kept = [
                s
                for s in body
                if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str))
            ]
            if not kept:
                return False
            body[:] = kept
    return True


import functools


@functools.lru_cache(maxsize=4)
def ref_normalize(src):
    """ast.unparse(ast.parse(src)) without docstrings and blank lines; raw text if it fails."""
    try:
        tree = ast.parse(src)
        text = ast.unparse(tree)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return src
    tree = ast.parse(text)
    if _strip_docstrings(tree):
        text = ast.unparse(tree)
    return "\n".join(l for l in text.splitlines() if l.strip()) + "\n"


@functools.lru_cache(maxsize=4)
def _functions(src):
    try:
        tree = ast.parse(src)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    out = {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    out.setdefault(name, []).append(ast.dump(child))
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return out


def ref_just_new_function(old, new):
    """The edit adds functions/methods and removes or changes none."""
    a, b = _functions(old), _functions(new)
    if a is None or b is None:
        return False
    if any(name not in b or b[name][: len(v)] != v for name, v in a.items()):
        return False
    return sum(len(v) for v in b.values()) > sum(len(v) for v in a.values())


def ref_key(path, old, new):
    o, n = ref_normalize(old), ref_normalize(new)
    diff = list(difflib.unified_diff(o.splitlines(), n.splitlines(), f"a/{path}", f"b/{path}", lineterm=""))
    if ref_just_new_function(old, new):
        diff = [l for l in diff[2:] if l.startswith(("+", "-"))]
    return "\n".join(diff).strip()


# ---------------------------------------------------------------- mutations


def mutate(src, rng):
    """One random edit of the kinds a SEARCH/REPLACE edit gets wrong: (kind, new source)."""
    lines = src.splitlines(keepends=True)
    if not lines:
        return "empty", "x = (\n"
    i = rng.randrange(len(lines))
    kind = rng.choice(["drop", "dup", "indent", "dedent", "bracket", "half", "char", "swap"])
    l = list(lines)
    if kind == "drop":
        del l[i]
    elif kind == "dup":
        l.insert(i, l[i])
    elif kind == "indent":
        l[i] = "    " + l[i]
    elif kind == "dedent":
        l[i] = l[i].lstrip(" \t") if l[i].strip() else "  " + l[i]
    elif kind == "bracket":
        pos = [k for k, c in enumerate(src) if c in "()[]{}"]
        if not pos:
            return kind, src + "(\n"
        k = rng.choice(pos)
        return kind, src[:k] + src[k + 1 :]
    elif kind == "half":
        n = min(len(l) - i, rng.randint(2, 8))
        block = l[i : i + n]
        l[i : i + n] = block[: max(1, n // 2)]
    elif kind == "char":
        k = rng.randrange(len(src) + 1)
        return kind, src[:k] + rng.choice(":,()=\"'\\ \t#") + src[k:]
    elif kind == "swap" and i + 1 < len(l):
        l[i], l[i + 1] = l[i + 1], l[i]
    return kind, "".join(l)


def logical_line_ends(src):
    """(line index, indentation) of simple statements that end a logical line."""
    import tokenize

    out = []
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(src).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return out
    lines = src.splitlines()
    prev, decorator, start_of_line = None, False, 0
    for t in toks:
        if t.type == tokenize.NEWLINE and prev is not None and prev.string != ":" and not decorator:
            row = t.start[0] - 1
            # the logical line's first line carries its indentation
            first = start_of_line
            if first < len(lines):
                text = lines[first]
                out.append((row, text[: len(text) - len(text.lstrip())]))
        if t.type in (tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT):
            if t.type == tokenize.NEWLINE:
                prev = None
            continue
        if prev is None:
            start_of_line = t.start[0] - 1
            decorator = t.string == "@"
        prev = t
    return out


def edit_family(src, rng):
    """Valid edits of one file, for the voting key: (name, new source)."""
    lines = src.splitlines(keepends=True)
    if not src.endswith("\n"):
        return []
    ends = [e for e in logical_line_ends(src) if e[1].strip() == "" and not e[1].startswith("\t")]
    fam = []
    if ends:
        row, ind = rng.choice(ends)

        def insert(stmt, extra_row=None, extra=""):
            l = list(lines)
            l.insert(row + 1, ind + stmt + "\n")
            if extra_row is not None:
                l.insert(extra_row, extra)
            return "".join(l)

        fam.append(("change", insert("value = compute(value, 7)")))
        fam.append(("change+comment", insert("value = compute(value, 7)  # fixed")))
        fam.append(("change+spacing", insert("value = compute( value,7 )")))
        fam.append(("change+parens", insert("value = (compute(value, 7))")))
        fam.append(("change+blank", insert("value = compute(value, 7)", 0, "\n")))
        fam.append(("other", insert("value = compute(value, 8)")))
        fam.append(("other+string", insert("value = compute(value, 'x')")))
        fam.append(("other+string2", insert('value = compute(value, "x")')))
    fn = "def parity_added(a, b=1):\n    return a + b\n"
    fam.append(("newfn-end", src + "\n\n" + fn))
    # before a top-level definition (above its decorators)
    tops = [
        k
        for k, l in enumerate(lines)
        if l.startswith(("def ", "class ", "async def ", "@")) and not (k and lines[k - 1].startswith("@"))
    ]
    if tops:
        k = rng.choice(tops)
        l = list(lines)
        l.insert(k, fn + "\n\n")
        fam.append(("newfn-mid", "".join(l)))
    return fam


# ---------------------------------------------------------------- driver


def run_ours(binary, requests):
    import time
    t0 = time.time()
    proc = subprocess.run(
        [binary, "pycheck"],
        input="".join(json.dumps(r) + "\n" for r in requests),
        capture_output=True,
        text=True,
        check=True,
    )
    out = [json.loads(l) for l in proc.stdout.splitlines()]
    print(f"pycheck: {len(requests)} requests in {time.time() - t0:.1f}s", file=sys.stderr)
    if len(out) != len(requests):
        raise SystemExit(f"pycheck answered {len(out)} of {len(requests)} requests")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="the agentless-mini binary")
    ap.add_argument("--cache", default="target/python-parity", help="where sdists are kept")
    ap.add_argument("--sample", type=int, default=0, help="files to check (0: all), fixed selection")
    ap.add_argument("--mutations", type=int, default=2, help="mutated copies per file")
    ap.add_argument("--keys", type=int, default=0, help="files whose voting keys are compared (0: all sampled)")
    ap.add_argument("--json", help="write the figures and every disagreement here")
    args = ap.parse_args()
    if sys.version_info[:2] != (3, 11):
        raise SystemExit(f"the reference is CPython 3.11; this is {sys.version.split()[0]}")

    files, seen, not_utf8, per_project = [], set(), 0, {}
    for project, versions in CORPUS:
        for version in versions:
            archive = sdist(args.cache, project, version)
            for name, data in py_files(archive):
                h = hashlib.sha256(data).hexdigest()
                if h in seen:
                    continue
                seen.add(h)
                try:
                    src = data.decode("utf-8")
                except UnicodeDecodeError:
                    not_utf8 += 1
                    continue
                if src.startswith("\ufeff"):
                    src = src[1:]
                files.append((h, f"{project}-{version}/{name.split('/', 1)[-1]}", src))
                per_project[project] = per_project.get(project, 0) + 1
    files.sort()
    if args.sample:
        files = files[: args.sample]

    # syntax: originals and mutated copies
    reqs, meta = [], []
    for h, name, src in files:
        reqs.append({"id": len(reqs), "syntax": src})
        meta.append((name, "original", src))
        rng = random.Random(h)
        for _ in range(args.mutations):
            kind, new = mutate(src, rng)
            if new != src:
                reqs.append({"id": len(reqs), "syntax": new})
                meta.append((name, kind, new))
    ours = run_ours(args.bin, reqs)
    fig = {"files": len(files), "not_utf8_skipped": not_utf8, "per_project": per_project}
    orig = {"checked": 0, "cpython_rejects": 0, "disagree": []}
    mut = {"checked": 0, "cpython_rejects": 0, "false_alarms": [], "misses": []}
    for (name, kind, src), o in zip(meta, ours):
        py = cpython_ok(src)
        bucket = orig if kind == "original" else mut
        bucket["checked"] += 1
        bucket["cpython_rejects"] += not py
        if py == o["ok"]:
            continue
        entry = {"file": name, "kind": kind, "cpython": py, "ours": o["ok"], "line": o["line"], "message": o["message"]}
        if kind == "original":
            orig["disagree"].append(entry)
        else:
            entry["source"] = src
            (mut["false_alarms"] if py else mut["misses"]).append(entry)
    fig["syntax_original"] = orig
    fig["syntax_mutated"] = mut

    # voting key: groupings of edit families
    key_files = files[: args.keys] if args.keys else files
    reqs, fams = [], []
    for h, name, src in key_files:
        if not cpython_ok(src):
            continue
        fam = edit_family(src, random.Random("key" + h))
        ids = []
        for kind, new in fam:
            ids.append(len(reqs))
            reqs.append({"id": len(reqs), "path": "m.py", "old": src, "new": new})
        fams.append((name, src, fam, ids))
    ours = run_ours(args.bin, reqs) if reqs else []
    keys = {"files": len(fams), "edits": len(reqs), "pairs": 0, "disagree": []}
    for name, src, fam, ids in fams:
        ref = [ref_key("m.py", src, new) for _, new in fam]
        our = [ours[i]["key"] for i in ids]
        for a in range(len(fam)):
            for b in range(a + 1, len(fam)):
                keys["pairs"] += 1
                if (ref[a] == ref[b]) != (our[a] == our[b]):
                    keys["disagree"].append(
                        {"file": name, "a": fam[a][0], "b": fam[b][0], "reference_same": ref[a] == ref[b]}
                    )
    fig["voting_key"] = keys

    summary = {
        "files": fig["files"],
        "not_utf8_skipped": not_utf8,
        "original": {"checked": orig["checked"], "cpython_rejects": orig["cpython_rejects"], "disagree": len(orig["disagree"])},
        "mutated": {
            "checked": mut["checked"],
            "cpython_rejects": mut["cpython_rejects"],
            "false_alarms": len(mut["false_alarms"]),
            "misses": len(mut["misses"]),
        },
        "voting_key": {k: (len(v) if isinstance(v, list) else v) for k, v in keys.items()},
    }
    print(json.dumps(summary))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(fig, f, indent=1)
    return 1 if orig["disagree"] else 0


if __name__ == "__main__":
    sys.exit(main())
