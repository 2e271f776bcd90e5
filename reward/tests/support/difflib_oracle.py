"""CPython's answers for the difflib parity test (reward/tests/difflib_parity.rs).

Reads {"chars": [[a, b], ...], "texts": [[a, b], ...], "outputs": [text, ...]} on stdin and
writes, per char pair and autojunk mode, the ratio's bits, matching blocks and opcodes; per
text pair, splitlines, strip, line-level opcodes and unified_diff for several context sizes;
per model output, the tag counts, the stripped thought and answer (as swe-rl cuts them) and
`re.findall` of swe-rl's SEARCH/REPLACE regex on the answer. Standard library only.
"""
import difflib
import json
import re
import struct
import sys

EDIT_REGEX = r"```.*?\n### (.*)\n<<<<<<< SEARCH\n([\s\S]*?)\n=======\n([\s\S]*?)\n>>>>>>> REPLACE\n```"
TAGS = ("<think>", "</think>", "<solution>", "</solution>")


def bits(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def matcher(a, b, autojunk):
    sm = difflib.SequenceMatcher(None, a, b, autojunk=autojunk)
    return {
        "ratio_bits": bits(sm.ratio()),
        "blocks": [list(m) for m in sm.get_matching_blocks()],
        "opcodes": [list(op) for op in sm.get_opcodes()],
        "groups": [[list(op) for op in g] for g in sm.get_grouped_opcodes(3)],
    }


def main():
    cases = json.load(sys.stdin)
    out = {"chars": [], "texts": []}
    for a, b in cases["chars"]:
        out["chars"].append({"junk": matcher(a, b, True), "nojunk": matcher(a, b, False)})
    for a, b in cases["texts"]:
        al, bl = a.splitlines(), b.splitlines()
        out["texts"].append({
            "a_lines": al,
            "b_lines": bl,
            "a_strip": a.strip(),
            "lines": matcher(al, bl, True),
            "diffs": {str(n): list(difflib.unified_diff(al, bl, "old", "new", lineterm="", n=n)) for n in (0, 1, 3, 5)},
            "diff_dates": list(difflib.unified_diff(al, bl, "a.py", "b.py", "d1", "d2", n=2, lineterm="\n")),
        })
    out["outputs"] = []
    for text in cases["outputs"]:
        counts = [text.count(t) for t in TAGS]
        if counts != [1, 1, 1, 1]:
            out["outputs"].append({"counts": counts})
            continue
        thought = text.split("<think>")[1].split("</think>")[0].strip()
        answer = text.split("<solution>")[1].split("</solution>")[0].strip()
        edits = [list(e) for e in re.findall(EDIT_REGEX, answer)]
        out["outputs"].append({"counts": counts, "thought": thought, "answer": answer, "edits": edits})
    json.dump(out, sys.stdout)


main()
