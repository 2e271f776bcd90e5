#!/usr/bin/env python3
"""Render one prompt with the reference code of a user's checkout, for byte comparison with
`agentless-mini prompts show --json` (tests/prompts_reference.rs).

The checkout is imported from its own path (swe-rl: DIR/src on sys.path; Agentless: DIR).
Third-party packages the reference modules import at module level but that prompt rendering
never uses (openai, tenacity, tiktoken, transformers, datasets, tqdm, unidiff, libcst, ...)
are replaced by inert stand-ins when they are not installed; no request is ever made.

What is the reference's own code and what is this script's:
- localize (swe-rl): the structure dict is built from the repository folder as Agentless's
  `create_structure` does (`.py` files hold `{"classes", "functions", "text": splitlines}`),
  with the root's entries at the top level and entries in sorted path order (the order
  agentless-mini reads from git); then swe-rl's own `filter_none_python`,
  `filter_out_test_files` (not for `pytest*` ids), `show_project_structure(indentation=4,
  randomize=False)` and `LOCALIZATION.format(...).strip()`, as `localize_files` does for one
  sample (n = 5).
- repair (swe-rl): file contents are `"\\n".join(splitlines)` of the files (the structure's
  text, as `process_loc`), then swe-rl's own `construct_topn_file_context` (randomize=False;
  token counts stubbed as ceil(bytes / 4), which only matters past the budget) and
  `REPAIR.format(...).strip()` as `get_input_messages` does, as the only (user) message.
- repro / regression (Agentless): the module's template with the `.format(...).strip()` call
  of `gen_test` / `select_test`.

Output: the request's messages as JSON, `[{"role", "content"}]`.
"""

import argparse
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import types

STUBBED = {
    "openai", "tenacity", "tiktoken", "transformers", "datasets", "tqdm", "unidiff", "libcst",
    "anthropic", "llama_index", "dotenv", "requests", "swebench", "docker", "numpy", "torch",
}


class _Stub:
    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return self

    def __getattr__(self, name):
        return _Stub

    def __iter__(self):
        return iter(())


class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Stub


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] not in STUBBED:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            try:
                spec = finder.find_spec(fullname, path, target)
            except Exception:
                spec = None
            if spec is not None:
                return None  # installed: use it
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec):
        m = _StubModule(spec.name)
        m.__path__ = []
        return m

    def exec_module(self, module):
        pass


sys.meta_path.append(_StubFinder())


def structure_of(repo: str) -> dict:
    paths = []
    for root, dirs, files in os.walk(repo):
        dirs[:] = [d for d in dirs if d != ".git"]
        for f in files:
            paths.append(os.path.relpath(os.path.join(root, f), repo).replace(os.sep, "/"))
    paths.sort(key=lambda p: p.encode())
    structure: dict = {}
    for p in paths:
        parts = p.split("/")
        node = structure
        for d in parts[:-1]:
            node = node.setdefault(d, {})
        if parts[-1].endswith(".py"):
            with open(os.path.join(repo, p), encoding="utf-8", newline="") as fh:
                text = fh.read()
            node[parts[-1]] = {"classes": [], "functions": [], "text": text.splitlines()}
        else:
            node[parts[-1]] = {}
    return structure


def file_text(structure: dict, path: str) -> str:
    node = structure
    for part in path.split("/"):
        node = node[part]
    return "\n".join(node["text"])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkout", required=True)
    ap.add_argument("--stage", required=True, choices=["localize", "repair", "repro", "regression"])
    ap.add_argument("--instance", required=True, help="the instance as one JSON object (a file)")
    ap.add_argument("--repo", help="the repository tree at the base commit")
    ap.add_argument("--files", help="repair: the location set, comma-separated")
    ap.add_argument("--tests", help="regression: the passing tests, one per line (a file)")
    args = ap.parse_args()
    with open(args.instance, encoding="utf-8") as fh:
        inst = json.load(fh)
    problem_statement = inst["problem_statement"]
    if args.stage in ("localize", "repair"):
        os.environ.setdefault("PROJECT_FILE_LOC", "unused")
        os.environ.setdefault("TOKENIZER_MODEL", "unused")
        sys.path.insert(0, os.path.join(args.checkout, "src"))
        import swerl.agentless_mini.utils as utils  # noqa: E402

        structure = structure_of(args.repo)
        if args.stage == "localize":
            utils.data.filter_none_python(structure)
            if not inst["instance_id"].startswith("pytest"):
                utils.data.filter_out_test_files(structure)
            shown = utils.data.show_project_structure(structure, indentation=4, randomize=False).strip()
            message = utils.prompts.LOCALIZATION.format(
                problem_statement=problem_statement, structure=shown, n=5
            ).strip()
        else:
            import swerl.agentless_mini.repair as repair  # noqa: E402

            repair.count_tokens = lambda _id, _f, content: (len(content.encode()) + 3) // 4
            files = args.files.split(",")
            contents = {f: file_text(structure, f) for f in files}
            context = repair.construct_topn_file_context(
                inst["instance_id"], files, contents, 60000, randomize=False
            )
            message = utils.prompts.REPAIR.format(problem_statement=problem_statement, content=context).strip()
    elif args.stage == "repro":
        sys.path.insert(0, args.checkout)
        from agentless.test import generate_reproduction_tests as g  # noqa: E402

        message = g.generate_tests_prompt_template.format(problem_statement=problem_statement).strip()
    else:
        sys.path.insert(0, args.checkout)
        from agentless.test import select_regression_tests as r  # noqa: E402

        with open(args.tests, encoding="utf-8") as fh:
            tests = [line for line in fh.read().split("\n") if line.strip()]
        message = r.select_tests_prompt_template.format(
            problem_statement=problem_statement, passing_tests="\n".join(tests)
        ).strip()
    print(json.dumps([{"role": "user", "content": message}]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
