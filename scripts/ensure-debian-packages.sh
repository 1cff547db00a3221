#!/usr/bin/env bash
# Usage: ensure-debian-packages.sh COMMAND:PACKAGE ...
# Installs the Debian package for every command that is not on PATH, when we are root and have apt;
# otherwise names what is missing and fails, so a test run never silently skips the real thing.
set -euo pipefail
missing=()
for pair in "$@"; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "missing Debian packages: ${missing[*]} (install them: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
