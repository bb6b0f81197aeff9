// zot's sync content rules as a two-way name map (zot: sync/content.go, getRepoDestination and
// getRepoSource). A rule keeps upstream repositories matching `prefix` (a doublestar glob, a
// leading "/" ignored) under `destination` ("/" keeps the name); with `stripPrefix` the
// prefix's literal base is removed first (prefix "library/**", destination "/hub", stripPrefix:
// "library/alpine" <-> "hub/alpine"). The periodic mirror reads it forwards (upstream -> local,
// the first matching rule wins, as in zot); pull-through reads it backwards (a client asks for a
// local name, and the rule that would have stored an upstream repository there names it).
//
// The literal base is what precedes the last "/" before the first wildcard (doublestar's
// SplitPattern), or the whole prefix when it has none. zot's getRepoDestination trims the
// characters "/" and "*" instead, which agrees whenever the wildcard starts a path component
// ("library/**", "a/*/b"); for a prefix such as "library/alp*" zot's two directions disagree
// with each other ("library/alpine" is stored as "ine" and then not found by its local name),
// and Outpost keeps them consistent ("alpine").
import type { ContentRule } from '../config/sync.js'
import { globToRegExp } from '../util/glob.js'

const META = /[*?[{]/

/** The literal leading part of a glob: "library/**" -> "library", "**" -> "". */
export function literalBase(prefix: string): string {
  const wild = prefix.search(META)
  if (wild === -1) return prefix.replace(/^\/+|\/+$/g, '')
  const literal = prefix.slice(0, wild)
  const cut = literal.lastIndexOf('/')
  return cut === -1 ? '' : literal.slice(0, cut).replace(/^\/+/, '')
}

/** A prefix with no wildcard names one repository: the mirror asks for it without a catalog. */
export function fixedName(rule: ContentRule): string | undefined {
  return META.test(rule.prefix) ? undefined : rule.prefix.replace(/^\/+|\/+$/g, '')
}

const compiled = new Map<string, RegExp>()
function prefixMatches(rule: ContentRule, upstream: string): boolean {
  const prefix = rule.prefix.replace(/^\//, '')
  let re = compiled.get(prefix)
  if (!re) compiled.set(prefix, (re = globToRegExp(prefix)))
  return re.test(upstream)
}

function trimSlashes(s: string): string {
  return s.replace(/^\/+|\/+$/g, '')
}

/** The local name of upstream repository `upstream` under `rule`, or undefined if not covered. */
export function localName(rule: ContentRule, upstream: string): string | undefined {
  if (!prefixMatches(rule, upstream)) return undefined
  let rest = upstream
  if (rule.stripPrefix) {
    const base = literalBase(rule.prefix)
    if (base && rest !== base && !rest.startsWith(`${base}/`)) return undefined
    rest = base ? rest.slice(base.length + 1) : rest
  }
  const local = [trimSlashes(rule.destination), rest].filter(Boolean).join('/')
  return local || undefined
}

/** The upstream repository a local name maps to under `rule`, or undefined. */
export function upstreamName(rule: ContentRule, local: string): string | undefined {
  const dest = trimSlashes(rule.destination)
  let rest = local
  if (dest) {
    if (local === dest && rule.stripPrefix) rest = ''
    else if (local.startsWith(`${dest}/`)) rest = local.slice(dest.length + 1)
    else return undefined
  }
  let upstream = rest
  if (rule.stripPrefix) {
    const base = literalBase(rule.prefix)
    upstream = [base, rest].filter(Boolean).join('/')
  }
  return upstream && prefixMatches(rule, upstream) ? upstream : undefined
}

/** The first rule covering upstream repository `upstream` and the local name it gets there. */
export function mapUpstream(
  rules: readonly ContentRule[],
  upstream: string,
): { rule: ContentRule; local: string } | undefined {
  for (const rule of rules) {
    // zot picks the first rule whose prefix matches, even if its name then comes out empty.
    if (!prefixMatches(rule, upstream)) continue
    const local = localName(rule, upstream)
    return local ? { rule, local } : undefined
  }
  return undefined
}
