#!/usr/bin/env bash
# Builds the ARM packages on any host (x86_64 included): outpost_<version>_arm64.deb for 64-bit
# Debian / Raspberry Pi OS and outpost_<version>_armhf.deb for 32-bit Raspberry Pi OS.
# Production dependencies are installed for the target CPU (npm --cpu=arm64|arm --os=linux
# --libc=glibc --ignore-scripts: lmdb-js and msgpackr-extract ship prebuilt addons for both,
# and no x86 build runs), then trimmed and checked by ../deb/trim-modules.mjs.
#   packaging/arm64/build.sh            -> dist/deb/outpost_<version>_{arm64,armhf}.deb
set -euo pipefail
[ $# -gt 0 ] || set -- arm64 armhf
exec "$(dirname "$0")/../deb/build-deb.sh" "$@"
