#!/usr/bin/env python3
"""llama.cpp (through llama-cpp-python) prompt and decode speed on a GGUF file.

Used by `cargo bench -p agentless-model --bench local_vs_llamacpp`, which runs the same
measurement on the local engine and prints both side by side. Reads the prompt as token ids
(so both engines process exactly the same tokens) and prints one JSON object.

    python3 llamacpp_speed.py --model M.gguf --tokens '[1,2,...]' --decode 128 --threads 2 --repeat 3
"""
import argparse
import json
import sys
import time

import numpy as np

try:
    import llama_cpp
except ImportError:
    sys.exit("llama-cpp-python is missing: pip install llama-cpp-python==0.3.36")


def greedy(llm):
    """Argmax of the last logits, read in place (llm.scores copies a n_ctx x vocab array)."""
    ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
    return int(np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)).argmax())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokens", required=True, help="JSON list of prompt token ids")
    ap.add_argument("--decode", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tokens = json.loads(args.tokens)
    llm = llama_cpp.Llama(
        model_path=args.model,
        n_ctx=max(2048, len(tokens) + args.decode + 8),
        n_batch=512,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        verbose=False,
    )
    prompt_s, decode_s = [], []
    for _ in range(args.repeat):
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(tokens)
        prompt_s.append(time.perf_counter() - t0)
        t1 = time.perf_counter()
        for _ in range(args.decode):
            tok = greedy(llm)
            llm.eval([tok])
        decode_s.append(time.perf_counter() - t1)
    print(json.dumps({
        "engine": f"llama.cpp (llama-cpp-python {llama_cpp.__version__})",
        "prompt_tokens": len(tokens),
        "decode_tokens": args.decode,
        "prompt_s": prompt_s,
        "decode_s": decode_s,
    }))


if __name__ == "__main__":
    main()
