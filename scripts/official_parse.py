#!/usr/bin/env python3
"""Run the OFFICIAL swebench log parsers and grading on a batch of inputs (parity oracle).

Reference implementation for parity tests only; never used by the tool. Works with whichever
swebench (4.1.0 or 5.x) the running interpreter has.

stdin: JSON lines, either
  {"kind": "parse", "parser": "parse_log_pytest", "log": "..."}
  {"kind": "grade", "map": [[id, status], ...], "f2p": [...], "p2p": [...], "eval_type": "pass_and_fail"}
stdout: one JSON line per input: {"map": [[id, status], ...]} (dict order kept),
  {"f2p": {...}, "p2p": {...}}, or {"error": "ExceptionName"} when the official code raised.
"""
import json
import sys

from swebench.harness.constants import EvalType
from swebench.harness.grading import get_eval_tests_report
from swebench.harness.log_parsers import python as parsers


def main():
    out = sys.stdout
    for line in sys.stdin:
        req = json.loads(line)
        try:
            if req["kind"] == "parse":
                fn = getattr(parsers, req["parser"])
                m = fn(req["log"], None)
                res = {"map": [[k, v] for k, v in m.items()]}
            else:
                sm = {k: v for k, v in req["map"]}
                rep = get_eval_tests_report(
                    sm,
                    {"FAIL_TO_PASS": req["f2p"], "PASS_TO_PASS": req["p2p"]},
                    eval_type=EvalType(req["eval_type"]),
                )
                res = {"f2p": rep["FAIL_TO_PASS"], "p2p": rep["PASS_TO_PASS"]}
        except Exception as e:  # noqa: BLE001 - report, the Rust side decides
            res = {"error": type(e).__name__}
        out.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
