#!/usr/bin/env bash
# Installs the Debian packages Onion needs (simulators, yosys, SystemC) when they are missing.
# A package named lib* is a library (no command of its name): dpkg says whether it is installed.
set -euo pipefail
installed() {
  case "$1" in
    lib*) dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}
missing=()
for pkg in "$@"; do installed "$pkg" || missing+=("$pkg"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "setup: missing Debian packages: ${missing[*]}" >&2
  echo "       install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
