#!/usr/bin/env bash
# Builds outpost_<version>_<arch>.deb for each Debian architecture given (amd64, arm64, armhf),
# on any Linux host with node/npm and dpkg-deb: the JavaScript is compiled once, and each
# package gets production dependencies installed for its own CPU (npm --cpu/--os/--libc with
# --ignore-scripts, so no host build replaces the target's prebuilt addons), trimmed to what
# runs (trim-modules.mjs checks every addon is an ELF for the target).
#   packaging/deb/build-deb.sh amd64 arm64 armhf     -> dist/deb/outpost_<version>_<arch>.deb
# OUTPOST_DEB_DIR overrides the output folder. Type errors fail the build; with
# OUTPOST_DEB_TYPE_ERRORS=warn (a work-in-progress tree) tsc's output is packaged anyway.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${OUTPOST_DEB_DIR:-$repo/dist/deb}"
[ $# -gt 0 ] || set -- amd64

for tool in node npm dpkg-deb gzip; do
  command -v "$tool" >/dev/null || { echo "build-deb: $tool is required" >&2; exit 1; }
done

# Whoever publishes the packages puts their address here (lintian rejects the placeholder).
maintainer="${OUTPOST_DEB_MAINTAINER:-Outpost maintainers <outpost@localhost>}"
version="$(node -p "require('$repo/package.json').version")"
# Reproducible timestamps: the last commit's date, or now outside a git checkout.
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)}"

work="$(mktemp -d "${TMPDIR:-/tmp}/outpost-deb.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Compile once for every architecture: plain JavaScript, no source maps or declarations.
if ! "$repo/node_modules/.bin/tsc" -p "$repo/tsconfig.json" --outDir "$work/dist" \
  --sourceMap false --declaration false --incremental false --tsBuildInfoFile null >&2; then
  [ "${OUTPOST_DEB_TYPE_ERRORS:-}" = warn ] || { echo "build-deb: tsc failed" >&2; exit 1; }
  echo "build-deb: packaging despite type errors (OUTPOST_DEB_TYPE_ERRORS=warn)" >&2
fi
chmod 0755 "$work/dist/cli/main.js"

npm_cpu() {
  case "$1" in
    amd64) echo x64 ;;
    arm64) echo arm64 ;;
    armhf) echo arm ;;
    *) echo "build-deb: unsupported architecture $1 (amd64, arm64, armhf)" >&2; return 1 ;;
  esac
}

# The prebuilt addons carry debug sections (lmdb's: 3.5 MB of 4.3 MB). llvm-strip and
# binutils-multiarch's strip handle every architecture; plain binutils only the host's.
strip_addons() {
  local addon stripped=0 failed=0
  while IFS= read -r -d '' addon; do
    if { command -v llvm-strip >/dev/null && llvm-strip --strip-unneeded --remove-section=.comment --remove-section=.note "$addon"; } ||
      strip --strip-unneeded --remove-section=.comment --remove-section=.note "$addon" 2>/dev/null; then
      stripped=$((stripped + 1))
    else
      failed=$((failed + 1))
    fi
  done < <(find "$1" -name '*.node' -print0)
  echo "stripped $stripped addons" >&2
  if [ "$failed" -gt 0 ]; then
    echo "build-deb: $failed addons left unstripped (install llvm or binutils-multiarch)" >&2
  fi
}

build_one() {
  local arch="$1" cpu stage lib glibc size deb
  cpu="$(npm_cpu "$arch")"
  stage="$work/root-$arch"
  lib="$stage/usr/lib/outpost"
  mkdir -p "$lib" "$stage/DEBIAN"

  cp -r "$work/dist" "$lib/dist"
  cp "$repo/package.json" "$repo/package-lock.json" "$lib/"
  (cd "$lib" && npm ci --omit=dev --cpu="$cpu" --os=linux --libc=glibc --ignore-scripts \
    --no-audit --no-fund --loglevel=error >&2)
  rm -f "$lib/package-lock.json" "$lib/node_modules/.package-lock.json"
  node "$here/trim-modules.mjs" "$lib/node_modules" "$cpu" >&2
  strip_addons "$lib/node_modules"

  # The launcher applies the tuned Node options (bin/outpost); it finds dist/ beside itself.
  install -D -m 0755 "$repo/bin/outpost" "$lib/bin/outpost"
  install -d "$stage/usr/bin"
  ln -s ../lib/outpost/bin/outpost "$stage/usr/bin/outpost"
  install -D -m 0644 "$here/config.json" "$stage/etc/outpost/config.json"
  install -D -m 0644 "$repo/systemd/outpost.service" \
    "$stage/usr/lib/systemd/system/outpost.service"
  install -D -m 0644 "$repo/systemd/outpost.sysusers" "$stage/usr/lib/sysusers.d/outpost.conf"

  local doc="$stage/usr/share/doc/outpost"
  install -D -m 0644 "$here/copyright" "$doc/copyright"
  install -D -m 0644 "$here/config.example.json" "$doc/examples/config.example.json"
  install -m 0644 "$here"/examples/*.json "$doc/examples/"
  for dropin in "$repo"/systemd/examples/*.conf; do
    install -m 0644 "$dropin" "$doc/examples/"
  done
  gzip -9n <"$repo/README.md" >"$doc/README.md.gz"
  # The README is a front door; the reference it links to is docs/.
  install -d "$doc/docs"
  for page in "$repo"/docs/*.md; do
    gzip -9n <"$page" >"$doc/docs/$(basename "$page").gz"
  done
  printf '%s\n\n  * %s\n\n -- %s  %s\n' \
    "outpost ($version) unstable; urgency=medium" \
    "Release $version; see /usr/share/doc/outpost/README.md.gz." \
    "$maintainer" \
    "$(date -u -R -d "@$SOURCE_DATE_EPOCH")" | gzip -9n >"$doc/changelog.gz"
  install -d "$stage/usr/share/man/man1"
  # The man page is rendered from the CLI's help (scripts/man-page.mjs): one source for both.
  node "$repo/scripts/man-page.mjs" "$work/dist/cli/help.js" | gzip -9n \
    >"$stage/usr/share/man/man1/outpost.1.gz"
  install -D -m 0644 "$here/lintian-overrides" "$stage/usr/share/lintian/overrides/outpost"

  # Modes: directories 0755, files 0644, scripts and the CLI entry 0755. Addons are loaded with
  # dlopen and need no execute bit.
  find "$stage" -type d -exec chmod 0755 {} +
  find "$stage/usr/lib/outpost" -type f -exec chmod 0644 {} +
  chmod 0755 "$lib/dist/cli/main.js" "$lib/bin/outpost"

  # Depends on the newest glibc symbol version the addons reference.
  glibc="$(find "$lib/node_modules" -name '*.node' -exec grep -aoh 'GLIBC_2\.[0-9]*' {} + |
    sed 's/GLIBC_//' | sort -V | tail -n 1)"
  size="$(du -sk --apparent-size "$stage" | cut -f1)"
  sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
    -e "s/@MAINTAINER@/$maintainer/" \
    -e "s/@LIBC@/libc6 (>= ${glibc:-2.31}), libstdc++6/" \
    "$here/control.in" >"$stage/DEBIAN/control"
  install -m 0644 "$here/conffiles" "$stage/DEBIAN/conffiles"
  install -m 0755 "$here/postinst" "$here/prerm" "$here/postrm" "$stage/DEBIAN/"
  (cd "$stage" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -print0 |
    sort -z | xargs -0 md5sum | sed 's| \./| |' >DEBIAN/md5sums)
  chmod 0644 "$stage/DEBIAN/md5sums"

  # Reproducible mtimes, root ownership.
  find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  mkdir -p "$out"
  deb="$out/outpost_${version}_${arch}.deb"
  dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
  echo "$deb"
}

for arch in "$@"; do
  build_one "$arch"
done
