#!/usr/bin/env bash
# One-time machine set-up shared by the demo and test commands (idempotent):
#   - Debian packages: debootstrap (builds the offline base image for the demo containers);
#     with --tests also chromium (the HTML report is checked in a headless browser) and
#     docker-registry (the image pull path is tested against a real registry on loopback).
set -euo pipefail
need_apt=()
command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
if [ "${1:-}" = "--tests" ]; then
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
  [ -x /usr/bin/docker-registry ] || [ -x /usr/sbin/docker-registry ] || need_apt+=(docker-registry)
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
