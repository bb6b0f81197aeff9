// The small languages inside extensions.sync: zot's tag regexes (Go RE2 syntax, read by a
// JavaScript RegExp) and Outpost's platform strings ("linux/arm64", "linux/arm/v7"). Both the
// configuration (to reject bad values at load) and the mirror's selection use these.

/** An OCI image-spec platform (image-index "platform": os, architecture, variant). */
export interface Platform {
  os: string
  architecture: string
  variant?: string
}

// Go's GOOS and GOARCH values, which image-spec says os and architecture SHOULD use
// (image-index.md, "platform"). A typo such as "linux/amr64" would mirror nothing; it is refused.
const OS = new Set(
  'aix android darwin dragonfly freebsd hurd illumos ios js linux netbsd openbsd plan9 solaris wasip1 windows zos'.split(
    ' ',
  ),
)
const ARCH = new Set(
  '386 amd64 arm arm64 loong64 mips mipsle mips64 mips64le ppc64 ppc64le riscv64 s390x sparc64 wasm'.split(
    ' ',
  ),
)
// The names people write for the same CPUs (uname -m, Debian), as containerd normalises them.
const ARCH_ALIASES: Record<string, string> = {
  aarch64: 'arm64',
  x86_64: 'amd64',
  'x86-64': 'amd64',
}
const VARIANT = /^[a-z0-9]+(?:\.[a-z0-9]+)?$/

/** "os/arch[/variant]" -> a Platform; throws with what was expected. */
export function parsePlatform(text: string): Platform {
  const parts = text.toLowerCase().split('/')
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === ''))
    throw new Error(`expected "os/arch" or "os/arch/variant" such as "linux/arm64", got "${text}"`)
  const [os, arch, variant] = parts
  const architecture = ARCH_ALIASES[arch] ?? arch
  if (!OS.has(os)) throw new Error(`unknown os "${os}" (expected a GOOS value such as "linux")`)
  if (!ARCH.has(architecture))
    throw new Error(`unknown architecture "${arch}" (expected a GOARCH value such as "arm64")`)
  if (variant !== undefined && !VARIANT.test(variant))
    throw new Error(`unknown variant "${variant}" (expected e.g. "v7" or "v8")`)
  return { os, architecture, ...(variant !== undefined && { variant }) }
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/')
}

const compiled = new Map<string, RegExp>()

/**
 * A zot tag regex as a RegExp. zot compiles it with Go's regexp (RE2) and tests with
 * MatchString, which is unanchored, as RegExp.test is. RE2's spellings JavaScript lacks are
 * translated: named groups `(?P<name>...)` and leading flags `(?i)`, `(?s)`, `(?m)`. RE2 syntax
 * with no JavaScript counterpart fails here, at load. Throws with the RegExp's complaint.
 */
export function compileTagRegex(source: string): RegExp {
  const hit = compiled.get(source)
  if (hit) return hit
  let body = source.replace(/\(\?P</g, '(?<')
  let flags = ''
  const lead = /^\(\?([a-zA-Z]+)\)/.exec(body)
  if (lead) {
    for (const f of lead[1]) {
      if (!'ims'.includes(f)) throw new Error(`flag "${f}" of "(?${lead[1]})" is not supported`)
      if (!flags.includes(f)) flags += f
    }
    body = body.slice(lead[0].length)
  }
  const re = new RegExp(body, flags)
  compiled.set(source, re)
  return re
}

// Masterminds/semver v1 (the package zot's `tags.semver` uses): NewVersion accepts an optional
// "v", one to three numeric parts, a pre-release and build metadata; each number must fit int64.
const SEMVER =
  /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/
const INT64_MAX = 9223372036854775807n

/** Whether zot's `tags.semver: true` keeps `tag`: "v1.2.3", "1.2", "1", "1.0.0-rc.1" do. */
export function isSemverTag(tag: string): boolean {
  const m = SEMVER.exec(tag)
  return !!m && [m[1], m[2], m[3]].every((n) => n === undefined || BigInt(n) <= INT64_MAX)
}
