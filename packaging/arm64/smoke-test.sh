#!/usr/bin/env bash
# arm64 smoke test: installs outpost_<version>_arm64.deb with apt into a Debian 13 (trixie)
# arm64 chroot that runs under qemu-user (binfmt_misc), then runs `outpost --version`,
# `outpost verify /etc/outpost/config.json` and `outpost serve` inside it as the outpost user,
# and pushes and pulls an image with the host's skopeo over 127.0.0.1 (a chroot shares the
# host's network). Needs root, debootstrap, qemu-user-static, binfmt-support, skopeo, umoci.
# The base chroot (minbase + trixie's nodejs) is cached as a tarball in OUTPOST_SMOKE_CACHE
# (default /var/cache/outpost-smoke); delete it to start from scratch.
#   npm run test:arm64            (or: packaging/arm64/smoke-test.sh [outpost_*_arm64.deb])
set -euo pipefail

started=$(date +%s)
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${OUTPOST_SMOKE_CACHE:-/var/cache/outpost-smoke}"
mirror="${OUTPOST_SMOKE_MIRROR:-http://deb.debian.org/debian}"
base="$cache/trixie-arm64-nodejs.tar"
step() { printf '[%4ss] %s\n' "$(($(date +%s) - started))" "$*"; }

[ "$(id -u)" = 0 ] || { echo "smoke-test: needs root (debootstrap, chroot)" >&2; exit 1; }
for tool in debootstrap skopeo umoci; do
  command -v "$tool" >/dev/null || { echo "smoke-test: install the Debian package $tool" >&2; exit 1; }
done
if [ "$(uname -m)" != aarch64 ]; then
  [ -d /proc/sys/fs/binfmt_misc ] && [ -e /proc/sys/fs/binfmt_misc/status ] ||
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 ||
    { echo "smoke-test: install qemu-user-static and binfmt-support" >&2; exit 1; }
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/outpost-smoke.XXXXXX")"
root="$work/root"
server=""
cleanup() {
  [ -n "$server" ] && kill -KILL "$server" 2>/dev/null || true
  for m in dev/pts dev proc sys; do umount -l "$root/$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

deb="${1:-}"
if [ -z "$deb" ]; then
  step "building the arm64 package"
  deb="$(OUTPOST_DEB_DIR="$work/deb" "$repo/packaging/deb/build-deb.sh" arm64 2>/dev/null)"
fi
step "package: $(basename "$deb") ($(du -h "$deb" | cut -f1))"

mkdir -p "$root"
if [ -f "$base" ]; then
  step "unpacking the cached trixie arm64 chroot"
  tar -C "$root" -xf "$base"
else
  step "debootstrap trixie arm64 (minbase + nodejs), cached afterwards in $base"
  debootstrap --arch=arm64 --variant=minbase --include=nodejs trixie "$root" "$mirror" \
    >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  rm -rf "$root"/var/cache/apt/archives/*.deb
  mkdir -p "$cache"
  tar -C "$root" -cf "$base.tmp" . && mv "$base.tmp" "$base"
fi
mount --bind /dev "$root/dev"
mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
# A clean environment: the host's (NODE_EXTRA_CA_CERTS, say) does not belong in the chroot.
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
step "chroot: $(in_root uname -m), $(sed -n 's/^PRETTY_NAME=//p' "$root/etc/os-release"), node $(in_root node --version) ($(in_root node -p process.arch))"

step "apt install ./$(basename "$deb")"
cp "$deb" "$root/tmp/"
in_root DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  "/tmp/$(basename "$deb")" 2>&1 | grep -E '^(Setting up|Unpacking) outpost' || true
in_root dpkg-query -W -f '${Package} ${Version} ${Architecture}: ${Status}\n' outpost

step "outpost --version: $(in_root /usr/bin/outpost --version)"
step "outpost verify /etc/outpost/config.json (as outpost)"
in_root setpriv --reuid=outpost --regid=outpost --init-groups \
  /usr/bin/outpost verify /etc/outpost/config.json | head -1

config=/etc/outpost/config.json
port=5000
if (exec 3<>/dev/tcp/127.0.0.1/5000) 2>/dev/null; then
  port=$((15000 + RANDOM % 1000))
  sed "s/\"port\": \"5000\"/\"port\": \"$port\"/" "$root$config" >"$root/tmp/config.json"
  chmod 0644 "$root/tmp/config.json"
  config=/tmp/config.json
  step "127.0.0.1:5000 is taken on this host: serving the shipped config on port $port"
fi
step "outpost serve $config (as outpost, umask 0027)"
# chroot itself, not the in_root function: $! must be the process that becomes node.
chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
  setpriv --reuid=outpost --regid=outpost --init-groups --no-new-privs \
  sh -c "umask 0027 && cd /var/lib/outpost && exec /usr/bin/outpost serve $config" \
  >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 120); do
  grep -q '"msg":"listening"' "$work/serve.log" && break
  kill -0 "$server" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
  sleep 0.5
done
grep -q '"msg":"listening"' "$work/serve.log" || { cat "$work/serve.log" >&2; exit 1; }
step "listening: $(grep -o '"url":"[^"]*"' "$work/serve.log" | head -1)"

umoci init --layout "$work/image" >/dev/null
umoci new --image "$work/image:v1"
umoci unpack --rootless --image "$work/image:v1" "$work/bundle" >/dev/null
echo "hello from an arm64 chroot" >"$work/bundle/rootfs/motd"
umoci repack --image "$work/image:v1" "$work/bundle" >/dev/null
skopeo --insecure-policy copy --quiet --dest-tls-verify=false \
  "oci:$work/image:v1" "docker://127.0.0.1:$port/smoke/hello:v1"
step "pushed smoke/hello:v1"
skopeo --insecure-policy copy --quiet --src-tls-verify=false \
  "docker://127.0.0.1:$port/smoke/hello:v1" "oci:$work/pulled:v1"
sent="$(skopeo inspect --raw "oci:$work/image:v1" | sha256sum | cut -d' ' -f1)"
back="$(skopeo inspect --raw "oci:$work/pulled:v1" | sha256sum | cut -d' ' -f1)"
[ "$sent" = "$back" ] || { echo "smoke-test: pulled manifest differs" >&2; exit 1; }
step "pulled it back: manifest sha256:$back matches"
stored="$root/var/lib/outpost/smoke/hello/index.json"
[ -f "$stored" ] || { echo "smoke-test: $stored missing" >&2; exit 1; }
step "stored in the chroot's /var/lib/outpost: $(in_root stat -c '%n %U %a' /var/lib/outpost/smoke/hello/index.json)"

kill -TERM "$server"
status=0
wait "$server" || status=$?
server=""
[ "$status" = 0 ] || { cat "$work/serve.log" >&2; echo "smoke-test: serve exited $status" >&2; exit 1; }
step "SIGTERM: clean exit; arm64 smoke test passed"
