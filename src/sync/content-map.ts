// zot's sync content rules read backwards: a client asks for a local repository name, and the
// rule that would have stored an upstream repository under that name says which upstream
// repository to fetch. A rule keeps upstream repositories matching `prefix` under `destination`
// ("/" keeps the name); with `stripPrefix` the prefix's literal part is removed first
// (prefix "library/**", destination "/hub", stripPrefix: "library/alpine" <-> "hub/alpine").
import type { ContentRule } from '../config/sync.js'
import { globToRegExp } from '../gc/glob.js'

/** The literal leading part of a glob: "library/**" -> "library", "**" -> "". */
function literalBase(prefix: string): string {
  const wild = prefix.search(/[*?[]/)
  if (wild === -1) return prefix.replace(/\/+$/, '')
  const literal = prefix.slice(0, wild)
  const cut = literal.lastIndexOf('/')
  return cut === -1 ? '' : literal.slice(0, cut)
}

/** The upstream repository a local name maps to under `rule`, or undefined. */
export function upstreamName(rule: ContentRule, local: string): string | undefined {
  const dest = rule.destination.replace(/^\/+|\/+$/g, '')
  let rest = local
  if (dest) {
    if (!local.startsWith(`${dest}/`)) return undefined
    rest = local.slice(dest.length + 1)
  }
  let upstream = rest
  if (rule.stripPrefix) {
    const base = literalBase(rule.prefix)
    upstream = base ? `${base}/${rest}` : rest
  }
  return globToRegExp(rule.prefix).test(upstream) ? upstream : undefined
}
