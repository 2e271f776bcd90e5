#!/usr/bin/env python3
"""Real SWE-bench Verified instances, end to end, under agentless-mini and the official harness.

Test set-up and comparison (not part of the tool; the tool never runs Python):

  build    replica images of the six instances in ../shared/data/real-repos, as
           ../shared/reference/real-instances.md describes: a debootstrap base, a venv at the
           official path with wheels downloaded on the host, and the official setup_repo.sh
           (from swebench 4.1.0) cloning a local copy of the real repository. Images are built
           once and cached by a fingerprint of their recipe (label agentless-mini.real-recipe).
  compare  gold, empty and no-op patches evaluated by agentless-mini (v4 and v5) and by the
           official harness (4.1.0 and 5.0.2, from the parity venvs) on the same images; every
           verdict and report.json must be identical. The requests instances also run under
           agentless-mini with --network none, to show what the default network policy changes.

    scripts/real-instances.py build
    scripts/real-instances.py compare --bin target/debug/agentless-mini --out DIR
    scripts/real-instances.py all --bin ... --out DIR        # both; prints timings

Network: wheels are downloaded on the host (the Python package index) into
target/real-instances/wheels; image builds run with no network. After the build, the images'
/etc/pip.conf points pip at a wheel folder served over HTTP on the Docker bridge gateway (a
stand-in for the package index the official images use), so the eval scripts' re-install works
only when the container has a network, as on the official images. `compare` serves it.

Exit status: 0 when everything agrees, 1 on a disagreement (listed), 2 on a set-up error.
Writes OUT/summary.json (verdicts, timings, differences).
"""
import argparse
import hashlib
import http.server
import json
import os
import re
import shutil
import socketserver
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("AGENTLESS_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
REPOS = os.path.join(SHARED, "data", "real-repos")
VERIFIED = os.path.join(SHARED, "data", "swe-bench", "verified-2026-02-16.parquet")
CACHE = os.path.join(ROOT, "target", "real-instances")
PREFIX = os.environ.get("REAL_INSTANCES_IMAGE_PREFIX", "agentless-mini-real")
BASE_IMAGE = f"{PREFIX}/base:bookworm"
LABEL = "agentless-mini.real-recipe"
RECIPE_VERSION = "3"
# The wheel server the images' pip.conf names (bridge gateway, fixed port).
WHEEL_PORT = int(os.environ.get("REAL_INSTANCES_WHEEL_PORT", "47613"))
BASE_PACKAGES = "python3,python3-venv,git,patch,ca-certificates"
BUILD_BACKENDS = ["setuptools", "wheel", "setuptools_scm", "flit_core", "tomli", "packaging", "typing_extensions"]
# A current pip, as in the official conda environments (Debian's venv pip 23.0 still falls back
# to `setup.py install`, which needs no index; current pip builds in isolation and does).
PIP = "pip"
ENV_PATH = "/opt/miniconda3/envs/testbed"
ACTIVATE = f"""# Stand-in for conda's activate: the venv first on PATH; `conda activate` only records the name.
export PATH={ENV_PATH}/bin:$PATH
export VIRTUAL_ENV={ENV_PATH}
conda() {{ if [ "$1" = activate ]; then export CONDA_DEFAULT_ENV="${{2:-base}}"; fi; return 0; }}
"""


# Seconds per stage, reported in summary.json.
TIMINGS = {}


def log(msg):
    print(f"[real-instances] {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw):
    kw.setdefault("check", True)
    return subprocess.run(cmd, **kw)


def sh(cmd, **kw):
    return run(cmd, stdout=subprocess.PIPE, text=True, **kw).stdout.strip()


def die(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(2)


def official_name(instance_id):
    return f"swebench/sweb.eval.x86_64.{instance_id.replace('__', '_1776_')}:latest".lower()


def image_label(image):
    p = subprocess.run(["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", image],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if p.returncode != 0:
        return None
    return (json.loads(p.stdout or "null") or {}).get(LABEL, "")


def fingerprint(*parts):
    h = hashlib.sha256(RECIPE_VERSION.encode())
    for p in parts:
        h.update(b"\0")
        h.update(p if isinstance(p, bytes) else str(p).encode())
    return h.hexdigest()[:16]


def file_hash(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def gateway():
    out = sh(["docker", "network", "inspect", "bridge", "--format", "{{range .IPAM.Config}}{{.Gateway}} {{end}}"])
    gw = out.split()[0] if out.split() else ""
    if not gw:
        # Older engines leave Gateway empty: the docker0 address.
        out = sh(["ip", "-4", "-o", "addr", "show", "docker0"], check=False)
        for w in out.split():
            if "/" in w and w[0].isdigit():
                gw = w.split("/")[0]
    return gw or "172.17.0.1"


# ---------------------------------------------------------------------------------------- data

def load_rows(python):
    """The six instances' dataset rows (parquet read by the parity venv's pyarrow)."""
    ids = json.load(open(os.path.join(REPOS, "instances.json")))
    code = (
        "import json,sys,pyarrow.parquet as pq\n"
        "ids=set(json.loads(sys.argv[2]))\n"
        "rows=[r for r in pq.read_table(sys.argv[1]).to_pylist() if r['instance_id'] in ids]\n"
        "print(json.dumps(rows, default=str))\n"
    )
    rows = json.loads(sh([python, "-c", code, VERIFIED, json.dumps(sorted(ids))]))
    rows.sort(key=lambda r: r["instance_id"])
    if len(rows) != len(ids):
        die(f"found {len(rows)} of {len(ids)} instances in {VERIFIED}")
    return rows, ids


def repo_scripts(python4, rows):
    """The official setup_repo.sh of each instance, and the spec, from swebench 4.1.0."""
    code = (
        "import json,sys\n"
        "from swebench.harness.test_spec.test_spec import make_test_spec\n"
        "from swebench.harness.constants import MAP_REPO_VERSION_TO_SPECS\n"
        "out={}\n"
        "for r in json.load(sys.stdin):\n"
        "    ts=make_test_spec(r)\n"
        "    out[r['instance_id']]={'repo_script': ts.install_repo_script,\n"
        "        'spec': MAP_REPO_VERSION_TO_SPECS[r['repo']][r['version']]}\n"
        "print(json.dumps(out))\n"
    )
    return json.loads(run([python4, "-c", code], input=json.dumps(rows), stdout=subprocess.PIPE, text=True).stdout)


# ------------------------------------------------------------------------------------- images

def build_base():
    recipe = fingerprint("base", BASE_PACKAGES, "bookworm", "LANG=C.UTF-8")
    if image_label(BASE_IMAGE) == recipe:
        log(f"{BASE_IMAGE}: cached")
        return recipe
    # AGENTLESS_DEBIAN_MIRROR, else debootstrap's own default mirror (no host is named here).
    mirror = os.environ.get("AGENTLESS_DEBIAN_MIRROR", "").strip()
    log(f"{BASE_IMAGE}: debootstrap from {mirror or 'its default mirror'}")
    tmp = tempfile.mkdtemp(prefix="real-base-", dir=os.path.join(CACHE))
    try:
        run(["debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", "bookworm", tmp] + ([mirror] if mirror else []),
            stdout=subprocess.DEVNULL)
        for d in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(os.path.join(tmp, d), ignore_errors=True)
        tar = subprocess.Popen(["tar", "-C", tmp, "-c", "."], stdout=subprocess.PIPE)
        run(["docker", "import", "--change", "ENV LANG=C.UTF-8", "--change", f"LABEL {LABEL}={recipe}",
             "--change", 'CMD ["/bin/bash"]', "-", BASE_IMAGE], stdin=tar.stdout, stdout=subprocess.DEVNULL)
        if tar.wait() != 0:
            die("tar of the debootstrap tree failed")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return recipe


def env_key(row):
    return f"{row['repo'].split('/')[1]}-{row['version']}"


def env_packages(spec):
    """The pip installs of the official setup_env.sh for this spec (conda packages as pip ones)."""
    pkgs = []
    packages = spec.get("packages", "")
    if packages and packages not in ("requirements.txt", "environment.yml"):
        pkgs += packages.split()
    pkgs += spec.get("pip_packages", [])
    return pkgs


def checkout(archive, commit, dest):
    """A work tree of `commit` from a real-repos archive (no network)."""
    tmp = tempfile.mkdtemp(prefix="real-git-", dir=CACHE)
    with tarfile.open(os.path.join(REPOS, archive)) as t:
        t.extractall(tmp, filter="fully_trusted")
    bare = os.path.join(tmp, archive[: -len(".tar")])
    run(["git", "init", "-q", dest])
    run(["git", "-C", dest, "fetch", "-q", "--update-shallow", bare, "refs/swebench/*:refs/swebench/*"])
    run(["git", "-C", dest, "checkout", "-q", commit])
    shutil.rmtree(tmp, ignore_errors=True)


def release_tag(row):
    """A tag at the base commit standing in for the release tags the shallow repositories
    lack (the official images have them): setuptools_scm reads the version from it (pytest
    checks its own version against `minversion`)."""
    return f"{row['version']}.0"


def bare_repo(archive, commit, dest, tag):
    """A bare repository whose HEAD branch is `commit` (tagged `tag`), for the official `git clone`."""
    tmp = tempfile.mkdtemp(prefix="real-git-", dir=CACHE)
    with tarfile.open(os.path.join(REPOS, archive)) as t:
        t.extractall(tmp, filter="fully_trusted")
    src = os.path.join(tmp, archive[: -len(".tar")])
    run(["git", "init", "-q", "--bare", "--initial-branch=main", dest])
    run(["git", "-C", dest, "fetch", "-q", "--update-shallow", src, f"refs/swebench/{commit}:refs/heads/main"])
    run(["git", "-C", dest, "tag", tag, "refs/heads/main"])
    shutil.rmtree(tmp, ignore_errors=True)


def download_wheels(key, row, spec, wheels):
    """Wheels for one environment, on the host: the spec's packages, the project's own
    dependencies at its environment commit, and the build back-ends. Cached by requirement."""
    pkgs = env_packages(spec)
    stamp = os.path.join(wheels, ".done-" + fingerprint(PIP, pkgs, BUILD_BACKENDS, row["environment_setup_commit"]))
    if os.path.exists(stamp):
        return
    os.makedirs(wheels, exist_ok=True)
    log(f"{key}: wheels for {' '.join(pkgs) or '(none)'} + the project's dependencies")
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    run(pip + ["wheel", "-w", wheels, PIP] + BUILD_BACKENDS + pkgs)
    src = tempfile.mkdtemp(prefix="real-src-", dir=CACHE)
    try:
        for commit in sorted({row["environment_setup_commit"], row["base_commit"]}):
            shutil.rmtree(src, ignore_errors=True)
            checkout(row["_archive"], commit, src)
            run(pip + ["wheel", "-w", wheels, src])
    finally:
        shutil.rmtree(src, ignore_errors=True)
    # The project's own wheel must not satisfy the re-install of its source.
    name = row["repo"].split("/")[1].replace("-", "_").lower()
    for f in os.listdir(wheels):
        if f.lower().startswith(name + "-"):
            os.remove(os.path.join(wheels, f))
    open(stamp, "w").close()


def docker_build(tag, context, dockerfile, recipe):
    with open(os.path.join(context, "Dockerfile"), "w") as fh:
        fh.write(dockerfile)
    run(["docker", "build", "-q", "--network", "none", "--label", f"{LABEL}={recipe}", "-t", tag, context],
        stdout=subprocess.DEVNULL)


def build_env(key, row, spec, base_recipe, gw):
    tag = f"{PREFIX}/env:{key}"
    wheels = os.path.join(CACHE, "wheels", key)
    download_wheels(key, row, spec, wheels)
    pkgs = env_packages(spec)
    listing = sorted(f for f in os.listdir(wheels) if f.endswith(".whl"))
    recipe = fingerprint("env", base_recipe, PIP, pkgs, listing, ACTIVATE, gw, WHEEL_PORT)
    if image_label(tag) == recipe:
        log(f"{tag}: cached")
        return tag, recipe
    log(f"{tag}: building")
    ctx = tempfile.mkdtemp(prefix="real-env-", dir=CACHE)
    try:
        shutil.copytree(wheels, os.path.join(ctx, "wheels"), ignore=shutil.ignore_patterns(".done-*"))
        with open(os.path.join(ctx, "activate"), "w") as fh:
            fh.write(ACTIVATE)
        with open(os.path.join(ctx, "pip.conf"), "w") as fh:
            fh.write("[global]\nno-index = true\nfind-links = /opt/wheels\ndisable-pip-version-check = true\n")
        install = " ".join(f"'{p}'" for p in pkgs)
        docker_build(tag, ctx, f"""FROM {BASE_IMAGE}
COPY wheels /opt/wheels
COPY pip.conf /etc/pip.conf
COPY activate /opt/miniconda3/bin/activate
RUN python3 -m venv {ENV_PATH} && {ENV_PATH}/bin/pip install -q --upgrade {PIP} \\
    && {ENV_PATH}/bin/pip install -q {install or PIP}
""", recipe)
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
    return tag, recipe


def build_instance(row, script, env_tag, env_recipe, gw):
    iid = row["instance_id"]
    tag = official_name(iid)
    url = f"https://github.com/{row['repo']}"
    if url not in script:
        die(f"{iid}: the official setup_repo.sh does not clone {url}")
    script = script.replace(url, "file:///opt/repo.git")
    archive = os.path.join(REPOS, row["_archive"])
    # After set-up, pip reaches the wheels only over HTTP (the stand-in package index).
    pip_conf = (f"[global]\nno-index = true\nfind-links = http://{gw}:{WHEEL_PORT}/\n"
                f"trusted-host = {gw}\ndisable-pip-version-check = true\ntimeout = 5\nretries = 0\n")
    recipe = fingerprint("instance", env_recipe, script, file_hash(archive), row["base_commit"], pip_conf,
                         release_tag(row))
    if image_label(tag) == recipe:
        log(f"{tag}: cached")
        return tag
    log(f"{tag}: building")
    t0 = time.monotonic()
    ctx = tempfile.mkdtemp(prefix="real-inst-", dir=CACHE)
    try:
        bare_repo(row["_archive"], row["base_commit"], os.path.join(ctx, "repo.git"), release_tag(row))
        with open(os.path.join(ctx, "setup_repo.sh"), "w") as fh:
            fh.write(script)
        with open(os.path.join(ctx, "pip.conf"), "w") as fh:
            fh.write(pip_conf)
        docker_build(tag, ctx, f"""FROM {env_tag}
COPY repo.git /opt/repo.git
COPY setup_repo.sh /root/setup_repo.sh
RUN /bin/bash /root/setup_repo.sh && rm -rf /opt/repo.git
COPY pip.conf /etc/pip.conf
RUN rm -rf /opt/wheels
WORKDIR /testbed/
""", recipe)
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
    log(f"{tag}: built in {time.monotonic() - t0:.0f} s")
    return tag


def build(python4, jobs=2):
    if shutil.which("debootstrap") is None:
        die("debootstrap is missing (scripts/setup.sh --tests installs it)")
    os.makedirs(CACHE, exist_ok=True)
    t0 = time.monotonic()
    # One build at a time: scripts/test.sh starts one early, and the test's own `all` then
    # waits for it here and finds every image cached.
    import fcntl
    lock = open(os.path.join(CACHE, "build.lock"), "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    TIMINGS["build-lock-wait"] = round(time.monotonic() - t0, 1)
    rows, ids = load_rows(python4)
    for r in rows:
        r["_archive"] = ids[r["instance_id"]]["archive"]
    scripts = repo_scripts(python4, rows)
    gw = gateway()
    stage = time.monotonic()
    base = build_base()
    TIMINGS["build-base"] = round(time.monotonic() - stage, 1)
    # Each environment, then its instances, as one chain; `jobs` chains at once (wheel
    # downloads, pip and git are mostly one core or the network each).
    from concurrent.futures import ThreadPoolExecutor
    firsts = {}
    for r in rows:
        firsts.setdefault(env_key(r), r)

    def chain(key):
        t = time.monotonic()
        first = firsts[key]
        env = build_env(key, first, scripts[first["instance_id"]]["spec"], base, gw)
        TIMINGS[f"build-env-{key}"] = round(time.monotonic() - t, 1)
        for r in rows:
            if env_key(r) == key:
                t = time.monotonic()
                build_instance(r, scripts[r["instance_id"]]["repo_script"], *env, gw)
                TIMINGS[f"build-instance-{r['instance_id']}"] = round(time.monotonic() - t, 1)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for f in [pool.submit(chain, k) for k in firsts]:
            f.result()
    for r in rows:
        r.pop("_archive", None)
    return rows, time.monotonic() - t0


# ------------------------------------------------------------------------------- wheel server

class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve_wheels(gw):
    """Serve every environment's wheels at http://GW:PORT/ (one flat find-links folder)."""
    flat = os.path.join(CACHE, "served")
    shutil.rmtree(flat, ignore_errors=True)
    os.makedirs(flat)
    root = os.path.join(CACHE, "wheels")
    for env in sorted(os.listdir(root)):
        for f in os.listdir(os.path.join(root, env)):
            if f.endswith((".whl", ".tar.gz")) and not os.path.exists(os.path.join(flat, f)):
                os.link(os.path.join(root, env, f), os.path.join(flat, f))
    handler = lambda *a, **k: Quiet(*a, directory=flat, **k)  # noqa: E731
    socketserver.TCPServer.allow_reuse_address = True
    server = socketserver.ThreadingTCPServer((gw, WHEEL_PORT), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# ---------------------------------------------------------------------------------- compare

NOOP_MARK = "# agentless-mini: no-op patch\n"


def noop_patch(row):
    """A patch that changes nothing the tests see: a comment appended to the gold patch's first file."""
    first = row["patch"].split("diff --git a/", 1)[1].split(" ", 1)[0]
    src = tempfile.mkdtemp(prefix="real-src-", dir=CACHE)
    try:
        checkout(row["_archive"], row["base_commit"], src)
        with open(os.path.join(src, first), "a") as fh:
            fh.write(NOOP_MARK)
        return sh(["git", "-C", src, "diff"]) + "\n"
    finally:
        shutil.rmtree(src, ignore_errors=True)


# Edge cases of patch application, one per instance (each run has one prediction per
# instance): the apply cascades of 4.x and 5.x treat them differently.
EDGE_CASES = ["partial", "twice", "drift", "crlf", "no-final-newline", "symlink"]


def blob_hash(text):
    return sh(["git", "hash-object", "--stdin"], input=text)


def edge_patch(row, case):
    gold = row["patch"]
    first = gold.split("diff --git a/", 1)[1].split(" ", 1)[0]
    if case == "partial":
        # The gold patch, then a hunk whose context exists nowhere.
        return gold + (f"diff --git a/{first} b/{first}\n--- a/{first}\n+++ b/{first}\n"
                       "@@ -1,3 +1,3 @@\n agentless-mini: no such line\n-nor this one\n+replaced\n nor this\n")
    if case == "twice":
        return gold + gold
    if case == "drift":
        # Every hunk moved two lines down, and its first context line changed.
        out, fresh = [], False
        for line in gold.split("\n"):
            if line.startswith("@@ "):
                head, _, tail = line[3:].partition(" @@")
                old, new = head.split(" ")
                def shift(x):
                    start, _, count = x[1:].partition(",")
                    return f"{x[0]}{int(start) + 2}" + (f",{count}" if count else "")
                line = f"@@ {shift(old)} {shift(new)} @@{tail}"
                fresh = True
            elif fresh and line.startswith(" "):
                line = line + "  # drifted"
                fresh = False
            elif fresh and line[:1] in "+-":
                fresh = False
            out.append(line)
        return "\n".join(out)
    if case == "crlf":
        return gold.replace("\n", "\r\n")
    if case == "no-final-newline":
        return gold.rstrip("\n")
    if case == "symlink":
        # An in-repository relative link (both official versions apply it).
        target = first
        return gold + (f"diff --git a/agentless-mini-link b/agentless-mini-link\nnew file mode 120000\n"
                       f"index 0000000..{blob_hash(target)[:7]}\n--- /dev/null\n+++ b/agentless-mini-link\n"
                       f"@@ -0,0 +1 @@\n+{target}\n\\ No newline at end of file\n")
    raise ValueError(case)


def predictions(rows, kind):
    out = []
    for i, r in enumerate(rows):
        if kind == "edge":
            patch = edge_patch(r, EDGE_CASES[i % len(EDGE_CASES)])
            out.append({"instance_id": r["instance_id"], "model_name_or_path": f"real-{kind}", "model_patch": patch})
            continue
        patch = {"gold": r["patch"], "empty": "", "noop": r.get("_noop", "")}[kind]
        out.append({"instance_id": r["instance_id"], "model_name_or_path": f"real-{kind}", "model_patch": patch})
    return out


def timed(cmd, cwd, env=None):
    t = time.monotonic()
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    return p, time.monotonic() - t


def collect(log_root, model):
    """instance id -> (report.json text or None, run_instance.log text or '') for one run."""
    out = {}
    base = None
    for dirpath, _, files in os.walk(log_root):
        if os.path.basename(os.path.dirname(dirpath)) == model and "run_instance.log" in files:
            base = dirpath
            iid = os.path.basename(dirpath)
            rep = os.path.join(dirpath, "report.json")
            integ = os.path.join(dirpath, "integrity.json")
            kinds = sorted({f["kind"] for f in json.load(open(integ))["findings"]}) if os.path.exists(integ) else []
            out[iid] = (open(rep).read() if os.path.exists(rep) else None,
                        open(os.path.join(dirpath, "run_instance.log"), errors="replace").read(),
                        open(os.path.join(dirpath, "test_output.txt"), errors="replace").read()
                        if os.path.exists(os.path.join(dirpath, "test_output.txt")) else "",
                        kinds)
    return out


def report_line(log_text):
    """The `report:` line of run_instance.log read back as the official tools do."""
    import ast
    for line in log_text.splitlines():
        i = line.find(" - report: ")
        if i >= 0:
            try:
                return ast.literal_eval(line[i + len(" - report: "):])
            except (ValueError, SyntaxError) as e:
                return f"unreadable: {e}"
    return None


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - ")


def git_diff_before(log_text):
    """The `Git diff before:` record (the tree right after the patch was applied)."""
    lines = log_text.split("\n")
    for i, line in enumerate(lines):
        if line.endswith("Git diff before:"):
            out = []
            for l in lines[i + 1:]:
                if LOG_LINE.match(l):
                    break
                out.append(l)
            return "\n".join(out).strip()
    return None


def applied_line(log_text):
    """How the patch ended: '>>>>> Applied Patch' (with 5.x's 'verified already applied') or failed."""
    for line in log_text.split("\n"):
        if ">>>>> Applied Patch" in line:
            return "applied (already)" if "verified already applied" in line else "applied"
        if ">>>>> Patch Apply Failed" in line:
            return "failed"
    return "none"


def run_report(cwd, model, run_id):
    p = os.path.join(cwd, f"{model}.{run_id}.json")
    return json.load(open(p)) if os.path.exists(p) else None


def alias(iid, kind):
    """The instance id a patch kind runs under: gold under the real id, the others under an
    alias whose image is the same image tagged again (`psf__requests-noop-5414`), so that one
    harness call per version evaluates every kind (the official harness takes one prediction
    per id). The number stays last: both harnesses read the repository from the id."""
    if kind == "gold":
        return iid
    stem, num = iid.rsplit("-", 1)
    return f"{stem}-{kind}-{num}"


def tag_aliases(rows, kinds):
    for r in rows:
        for kind in kinds:
            if kind != "gold":
                run(["docker", "tag", official_name(r["instance_id"]), official_name(alias(r["instance_id"], kind))])


def untag_aliases(rows, kinds):
    for r in rows:
        for kind in kinds:
            if kind != "gold":
                subprocess.run(["docker", "image", "rm", official_name(alias(r["instance_id"], kind))],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


MODEL = "real"


def harness_call(args, side, version, data, pred_path, out, instances=None, extra=()):
    """One evaluation by one harness: (name, cwd, command)."""
    name = f"{side}{version}" + ("-netnone" if extra else "")
    cwd = os.path.join(out, name)
    # Distinct run ids: container names are sweb.eval.<id>.<run id> under both harnesses,
    # and the two sides run at the same time. No compared file holds the run id.
    run_id = f"real-{name}"
    if side == "official":
        py = args.python4 if version == "4" else args.python5
        cmd = [py, "-m", "swebench.harness.run_evaluation", "--dataset_name", data,
               "--predictions_path", pred_path, "--run_id", run_id,
               "--max_workers", str(args.official_workers), "--timeout", "900"]
        if version == "4":
            cmd += ["--cache_level", "instance", "--namespace", "swebench"]
    else:
        cmd = [args.bin, "-q", "evaluate", "--dataset", data, "--predictions", pred_path,
               "--run-id", run_id, "--workers", str(args.workers), "--grading", f"v{version}",
               "--namespace", "swebench", "--timeout", "900"] + list(extra)
        if instances:
            cmd += ["--instances", ",".join(instances)]
    return name, cwd, run_id, cmd


def compare(args, rows):
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    ids = {r["instance_id"]: r for r in rows}
    archives = json.load(open(os.path.join(REPOS, "instances.json")))
    for r in rows:
        r["_archive"] = archives[r["instance_id"]]["archive"]
        r["_noop"] = noop_patch(r)
    kinds = list(args.patches)
    # One dataset and one predictions file holding every kind (aliases for all but gold).
    data = os.path.join(out, "dataset.jsonl")
    pred_path = os.path.join(out, "predictions.jsonl")
    owner = {}
    with open(data, "w") as dh, open(pred_path, "w") as ph:
        for kind in kinds:
            for p in predictions(rows, kind):
                iid = p["instance_id"]
                aid = alias(iid, kind)
                owner[aid] = (kind, iid)
                row = {k: v for k, v in ids[iid].items() if not k.startswith("_")}
                row["instance_id"] = aid
                dh.write(json.dumps(row) + "\n")
                ph.write(json.dumps({"instance_id": aid, "model_name_or_path": MODEL,
                                     "model_patch": p["model_patch"]}) + "\n")
    tag_aliases(rows, kinds)
    calls = []
    for version in args.versions:
        calls.append(harness_call(args, "official", version, data, pred_path, out))
        calls.append(harness_call(args, "ours", version, data, pred_path, out))
    psf = [alias(i, k) for k in kinds if k in ("gold", "noop") for i in ids if i.startswith("psf__")]
    if args.network_none and "4" in args.versions and psf:
        calls.append(harness_call(args, "ours", "4", data, pred_path, out, psf, ["--network", "none"]))
    server = serve_wheels(gateway())
    summary = {"runs": {}, "differences": [], "timings": dict(TIMINGS)}
    results = {}

    def one(call):
        name, cwd, run_id, cmd = call
        shutil.rmtree(cwd, ignore_errors=True)
        os.makedirs(cwd)
        p, secs = timed(cmd, cwd)
        summary["timings"][name] = round(secs, 1)
        ok = (0,) if name.startswith("official") else (0, 3)
        if p.returncode not in ok:
            summary["differences"].append(f"{name}: exit {p.returncode}: {p.stdout[-2000:]}")
        log(f"{name}: {secs:.0f} s")
        results[name] = (collect(os.path.join(cwd, "logs", "run_evaluation"), MODEL),
                         run_report(cwd, MODEL, run_id))

    # Two lanes: the official harness (its ~15 s container stops overlap with our runs) and
    # agentless-mini, each one call after the other.
    lanes = [[c for c in calls if c[0].startswith("official")], [c for c in calls if c[0].startswith("ours")]]
    t0 = time.monotonic()
    try:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max_workers=len(lanes)) as pool:
            for f in [pool.submit(lambda lane: [one(c) for c in lane], lane) for lane in lanes]:
                f.result()
    finally:
        server.shutdown()
        untag_aliases(rows, kinds)
    summary["timings"]["runs"] = round(time.monotonic() - t0, 1)
    # Split every call's instances by kind, back under their real ids.
    for kind in kinds:
        per_kind = {}
        for name, (logs, _report) in results.items():
            per_kind[name] = ({owner[a][1]: v for a, v in logs.items() if owner.get(a, (None,))[0] == kind}, None)
        summary["runs"][kind] = judge(kind, per_kind, ids, summary["differences"])
    for version in args.versions:
        compare_run_reports(version, results.get(f"official{version}"), results.get(f"ours{version}"),
                            summary["differences"])
    with open(os.path.join(out, "summary.json"), "w") as fh:
        json.dump(summary, fh, indent=2)
    return summary


def compare_run_reports(version, off, ours, diffs):
    """The run report (`<model>.<run id>.json`) of one call per side: keys and values."""
    off_run = off[1] if off else None
    our_run = ours[1] if ours else None
    if off_run is not None and our_run is not None:
        our_keys = [k for k in our_run if k not in ("flagged_instances", "flagged_ids")]
        if our_keys != list(off_run):
            diffs.append(f"v{version}: run report keys differ: ours {our_keys} official {list(off_run)}")
        for k in off_run:
            if k in ("unremoved_images", "unstopped_containers", "unstopped_instances"):
                continue
            if our_run.get(k) != off_run[k]:
                diffs.append(f"v{version}: run report {k}: ours {our_run.get(k)} official {off_run[k]}")
    elif (off_run is None) != (our_run is None):
        diffs.append(f"v{version}: only one side wrote a run report")


def verdict(report_text, iid):
    """The verdict in one report.json (keyed by the id it ran under: `iid`, or its alias)."""
    if report_text is None:
        return "error"
    reports = json.loads(report_text)
    r = reports[iid] if iid in reports else next(iter(reports.values()))
    return "resolved" if r["resolved"] else ("unresolved" if r["patch_successfully_applied"] else "not-applied")


def judge(kind, results, ids, diffs):
    table = {}
    for version in ("4", "5"):
        off = results.get(f"official{version}")
        ours = results.get(f"ours{version}")
        if not off or not ours:
            continue
        off_logs, our_logs = off[0], ours[0]
        for iid in sorted(ids):
            o = off_logs.get(iid, (None, "", "", []))
            a = our_logs.get(iid, (None, "", "", []))
            row = table.setdefault(iid, {})
            row[f"official{version}"] = verdict(o[0], iid) if iid in off_logs else "not-run"
            row[f"ours{version}"] = verdict(a[0], iid) if iid in our_logs else "not-run"
            if o[0] != a[0]:
                why = ""
                for side, logs in (("official", o), ("ours", a)):
                    if logs[0] is None and logs[1]:
                        tail = " | ".join(logs[1].rstrip().splitlines()[-4:])
                        why += f"; {side} wrote no report.json, its run_instance.log ends: {tail}"
                diffs.append(f"{kind} {iid} v{version}: report.json differs "
                             f"(official {row[f'official{version}']}, ours {row[f'ours{version}']}){why}")
            if iid in off_logs and report_line(o[1]) != report_line(a[1]):
                diffs.append(f"{kind} {iid} v{version}: run_instance.log report: line differs")
            if iid in off_logs and git_diff_before(o[1]) != git_diff_before(a[1]):
                diffs.append(f"{kind} {iid} v{version}: the tree after applying the patch differs "
                             "(Git diff before: in run_instance.log)")
            if iid in off_logs:
                row[f"apply{version}"] = applied_line(a[1])
                if applied_line(o[1]) != applied_line(a[1]):
                    diffs.append(f"{kind} {iid} v{version}: patch apply: official {applied_line(o[1])}, "
                                 f"ours {applied_line(a[1])}")
    net = results.get("ours4-netnone")
    if net and net[0]:
        for iid, (rep, _log, out, kinds) in sorted(net[0].items()):
            row = table.setdefault(iid, {})
            row["ours4-network-none"] = verdict(rep, iid)
            row["ours4-network-none-reinstall"] = "failed" if reinstall_failed(out) else "ok"
            row["ours4-network-none-findings"] = kinds
        for iid, (rep, _log, out, _kinds) in sorted(results["ours4"][0].items()):
            if iid.startswith("psf__"):
                table[iid]["ours4-reinstall"] = "failed" if reinstall_failed(out) else "ok"
                # requests' timeout tests try to connect: with the default policy they find no
                # network (the official harness leaves it on).
                tests = out.split(">>>>> Start Test Output", 1)[-1]
                table[iid]["ours4-tests-network"] = ("unreachable" if "Network is unreachable" in tests
                                                     else "reachable")
        for iid, (rep, _log, out, _kinds) in sorted(results["official4"][0].items()):
            if iid.startswith("psf__"):
                tests = out.split(">>>>> Start Test Output", 1)[-1]
                table[iid]["official4-tests-network"] = ("unreachable" if "Network is unreachable" in tests
                                                         else "reachable")
    return table


def reinstall_failed(test_output):
    head = test_output.split(">>>>> Start Test Output", 1)[0]
    return any(s in head for s in ("ERROR: Could not find a version", "ERROR: No matching distribution",
                                   "Failed to build", "error: subprocess-exited-with-error"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["build", "compare", "all"])
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "debug", "agentless-mini"))
    ap.add_argument("--out", default=os.path.join(CACHE, "compare"))
    ap.add_argument("--python4", default=os.environ.get("SWEBENCH4_PYTHON"))
    ap.add_argument("--python5", default=os.environ.get("SWEBENCH5_PYTHON"))
    # One worker per instance on both sides: the runs are mostly pip re-installs and tests
    # (70-130 s each under load), and both lanes run at once.
    ap.add_argument("--workers", type=int, default=6, help="evaluation workers of agentless-mini")
    ap.add_argument("--jobs", type=int, default=2, help="instance images built at once")
    # The official harness waits ~15 s per container stop (PID 1 ignores SIGTERM): one worker
    # per instance overlaps those waits.
    ap.add_argument("--official-workers", type=int, default=6)
    ap.add_argument("--patches", nargs="+", default=["gold", "empty", "noop", "edge"])
    ap.add_argument("--versions", nargs="+", default=["4", "5"])
    ap.add_argument("--no-network-none", dest="network_none", action="store_false")
    ap.add_argument("--instances", nargs="+", help="compare only these (the images of all six are built)")
    args = ap.parse_args()
    for name in ("python4", "python5"):
        if not getattr(args, name) or not os.path.exists(getattr(args, name)):
            die(f"--{name} (or SWEBENCH{name[-1]}_PYTHON) must name the parity venv's python "
                "(scripts/setup-parity-env.sh)")
    t0 = time.monotonic()
    rows, build_secs = build(args.python4, args.jobs)
    log(f"images ready in {build_secs:.0f} s: {json.dumps(TIMINGS)}")
    if args.command == "build":
        return 0
    args.bin = os.path.abspath(args.bin)
    if not os.path.exists(args.bin):
        die(f"{args.bin} does not exist (cargo build)")
    if args.instances:
        rows = [r for r in rows if r["instance_id"] in args.instances]
    summary = compare(args, rows)
    summary["timings"]["build"] = round(build_secs, 1)
    summary["timings"]["total"] = round(time.monotonic() - t0, 1)
    with open(os.path.join(os.path.abspath(args.out), "summary.json"), "w") as fh:
        json.dump(summary, fh, indent=2)
    print(json.dumps(summary, indent=2))
    return 1 if summary["differences"] else 0


if __name__ == "__main__":
    sys.exit(main())
