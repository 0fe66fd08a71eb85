#!/bin/sh
# Makes sure the system packages the build needs are present: installs them
# with apt-get (as root, or through sudo), or names them in one message.
# Usage: scripts/install-deps.sh [extra-debian-package ...]
set -u
PKGS="libopenblas-dev libcjson-dev libhwloc-dev libcmocka-dev pkg-config"
missing=""
if ! command -v pkg-config >/dev/null 2>&1; then
    missing="$PKGS"
else
    for pc in openblas:libopenblas-dev libcjson:libcjson-dev hwloc:libhwloc-dev cmocka:libcmocka-dev; do
        pkg-config --exists "${pc%%:*}" 2>/dev/null || missing="$missing ${pc#*:}"
    done
fi
for extra in "$@"; do
    case "$extra" in
    gnuplot*) command -v gnuplot >/dev/null 2>&1 || missing="$missing $extra" ;;
    *) dpkg -s "$extra" >/dev/null 2>&1 || missing="$missing $extra" ;;
    esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo"
else
    echo "error: missing system packages:$missing; install them with: sudo apt-get install$missing" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: missing system packages:$missing (Debian names); install their equivalents with your package manager" >&2
    exit 1
fi
echo "installing missing packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2 && $SUDO apt-get install -y -qq $missing >&2 || {
    echo "error: apt-get could not install:$missing; install them by hand and rerun" >&2
    exit 1
}
