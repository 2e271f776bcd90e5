#!/usr/bin/env bash
# One-time machine set-up shared by the demo and test commands (idempotent):
#   - Debian packages: debootstrap (builds the offline base image for demo containers).
set -euo pipefail
need_apt=()
command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
if [ "${#need_apt[@]}" -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
