"""unidiff 0.7.5's answers for the unidiff parity test (reward/tests/unidiff_parity.rs).

Reads a JSON list of patch texts on stdin; for each writes either {"error": true} (PatchSet
raised, which swe-rl turns into "no files") or {"files": [[path, content], ...]}: every
non-binary file in order, keyed and rendered the way swe-rl's reward reads them (see
../shared/reference/agentless-mini.md section 3). Needs unidiff==0.7.5.
"""
import json
import sys

import unidiff
from unidiff import PatchSet

if unidiff.VERSION != "0.7.5":
    sys.exit(f"unidiff 0.7.5 is required, this interpreter has {unidiff.VERSION}")


def files_of(text):
    try:
        patch = PatchSet(text)
    except Exception:
        return {"error": True}
    out = []
    for f in patch:
        if f.is_binary_file:
            continue
        head, path = "", f.path
        if f.is_rename:
            src = f.source_file[2:] if f.source_file.startswith("a/") else f.source_file
            dst = f.target_file[2:] if f.target_file.startswith("b/") else f.target_file
            head, path = f"rename from {src} to {dst}", src
        out.append([path, (head + "\n" + "\n".join(str(h).strip() for h in f)).strip()])
    return {"files": out}


json.dump([files_of(t) for t in json.load(sys.stdin)], sys.stdout)
