#!/usr/bin/env python3
"""Reference answers from llama.cpp (llama-cpp-python) for the model crate's parity tests.

Reads one JSON request on stdin and prints one JSON answer:
  {"model": PATH, "tokenize": [{"text": S, "special": bool}, ...]}
      -> {"tokens": [[ids...], ...]}          (add_bos=False, as the model's metadata says)
  {"model": PATH, "greedy": {"prompt": [ids], "n": N}}
      -> {"tokens": [ids...], "top": [[[id, logit] x5] ...]}
                                              (N greedy tokens after the prompt, 1 thread, and
                                              the five best logits at each step)
  {"model": PATH, "logits": {"prompt": [ids]}}
      -> {"logits": [floats...]}              (the logits after the prompt)
Exits non-zero with a message when llama-cpp-python is missing: the tests that call it fail.
"""
import json
import sys

import numpy as np

try:
    import llama_cpp
except ImportError:
    sys.exit("llama-cpp-python is not installed: pip install llama-cpp-python==0.3.36")


def main():
    req = json.load(sys.stdin)
    out = {}
    if "tokenize" in req:
        llm = llama_cpp.Llama(model_path=req["model"], vocab_only=True, verbose=False)
        out["tokens"] = [
            llm.tokenize(item["text"].encode("utf-8"), add_bos=False, special=item["special"])
            for item in req["tokenize"]
        ]
    if "greedy" in req:
        g = req["greedy"]
        llm = llama_cpp.Llama(model_path=req["model"], n_ctx=2048, n_threads=1, n_threads_batch=1, verbose=False)
        llm.eval(g["prompt"])
        toks, top = [], []
        for _ in range(g["n"]):
            ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
            logits = np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),))
            t = int(logits.argmax())
            toks.append(t)
            top.append([[int(i), float(logits[i])] for i in np.argsort(-logits, kind="stable")[:5]])
            llm.eval([t])
        out["tokens"] = toks
        out["top"] = top
    if "logits" in req:
        prompt = req["logits"]["prompt"]
        llm = llama_cpp.Llama(model_path=req["model"], n_ctx=max(2048, len(prompt) + 8), n_threads=2, n_threads_batch=2, verbose=False)
        llm.eval(prompt)
        ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        out["logits"] = np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)).astype(float).tolist()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
