#!/usr/bin/env bash
# One-time machine set-up shared by the demo and test commands (idempotent):
#   - Debian packages: debootstrap (builds the offline base image for the demo containers);
#     with --tests also chromium (the HTML report is checked in a headless browser) and
#     docker-registry (the image pull path is tested against a real registry on loopback),
#     slurm-wlm and munge (tests/cluster_slurm.rs starts a two-node Slurm on loopback; the
#     munge key Debian's package makes is kept, one is made when missing), and
#     libxml2-utils (xmllint validates the JUnit XML against junit-10.xsd, which --tests
#     fetches into target/junit-schema/ from pytest's source distribution on the Python
#     package index; MIT licence, not committed).
set -euo pipefail
need_apt=()
command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
if [ "${1:-}" = "--tests" ]; then
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
  [ -x /usr/bin/docker-registry ] || [ -x /usr/sbin/docker-registry ] || need_apt+=(docker-registry)
  command -v slurmctld >/dev/null 2>&1 || need_apt+=(slurm-wlm)
  command -v munged >/dev/null 2>&1 || need_apt+=(munge)
  command -v xmllint >/dev/null 2>&1 || need_apt+=(libxml2-utils)
fi
if [ "${#need_apt[@]}" -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  echo "installing Debian packages: ${need_apt[*]}" >&2
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# The Debian package starts a registry service on :5000; the tests start their own.
if [ -x /usr/bin/docker-registry ] && command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi
# Debian's munge package makes its key at install; a machine without one gets one. The
# tests start munged themselves when it is not running (tests/slurm_cluster).
if [ "${1:-}" = "--tests" ] && command -v mungekey >/dev/null 2>&1 && [ ! -s /etc/munge/munge.key ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd mungekey -c && $sudo_cmd chown munge:munge /etc/munge/munge.key && $sudo_cmd chmod 400 /etc/munge/munge.key
fi

# The JUnit schema (junit-10.xsd, shipped in pytest 8.3.4's sdist under testing/example_scripts/).
if [ "${1:-}" = "--tests" ]; then
  xsd_dir="$(cd "$(dirname "$0")/.." && pwd)/target/junit-schema"
  xsd_sha=a1a816f58d1bf95ebabf371994df0b9246dee66ea9572fbec4f9296f1b2c0ff6
  if [ ! -s "$xsd_dir/junit-10.xsd" ] || ! echo "$xsd_sha  $xsd_dir/junit-10.xsd" | sha256sum -c --quiet - >/dev/null 2>&1; then
    tmp="$(mktemp -d)"
    python3 -m pip download --quiet --no-deps --no-binary :all: pytest==8.3.4 -d "$tmp"
    tar -xzf "$tmp/pytest-8.3.4.tar.gz" -C "$tmp" pytest-8.3.4/testing/example_scripts/junit-10.xsd
    echo "$xsd_sha  $tmp/pytest-8.3.4/testing/example_scripts/junit-10.xsd" | sha256sum -c --quiet -
    mkdir -p "$xsd_dir"
    cp "$tmp/pytest-8.3.4/testing/example_scripts/junit-10.xsd" "$xsd_dir/junit-10.xsd"
    rm -rf "$tmp"
  fi
fi
