// Repository globs as zot writes them (doublestar, in retention policies, accessControl and sync
// content prefixes): `*` matches within one path component, `**` across components, `?` one
// character, `[abc]`/`[a-z]`/`[!a]` one character of a class, `{a,b}` either alternative.
export function globToRegExp(glob: string): RegExp {
  let out = ''
  let braces = 0
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]
    if (ch === '*' && glob[i + 1] === '*') {
      // "**/" also matches nothing, so "a/**/b" covers "a/b"
      if (glob[i + 2] === '/') {
        out += '(?:.*/)?'
        i += 2
      } else {
        out += '.*'
        i += 1
      }
    } else if (ch === '*') out += '[^/]*'
    else if (ch === '?') out += '[^/]'
    else if (ch === '[' && glob.indexOf(']', i + 2) !== -1) {
      const end = glob.indexOf(']', i + 2)
      const body = glob.slice(i + 1, end)
      const negated = body[0] === '!' || body[0] === '^'
      const chars = (negated ? body.slice(1) : body).replace(/[\\\]^]/g, '\\$&')
      // A class never matches the path separator (doublestar's rule).
      out += negated ? `[^/${chars}]` : `(?!/)[${chars}]`
      i = end
    } else if (ch === '{') {
      braces++
      out += '(?:'
    } else if (ch === '}' && braces > 0) {
      braces--
      out += ')'
    } else if (ch === ',' && braces > 0) out += '|'
    else out += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${out}$`)
}

/** Why `glob` is not a valid pattern (an unclosed `[` or `{`), or undefined when it is. */
export function globProblem(glob: string): string | undefined {
  let depth = 0
  for (let i = 0; i < glob.length; i++) {
    if (glob[i] === '[') {
      const end = glob.indexOf(']', i + 2)
      if (end === -1) return `unclosed "[" at ${i}`
      i = end
    } else if (glob[i] === '{') depth++
    else if (glob[i] === '}' && --depth < 0) return `unmatched "}" at ${i}`
  }
  return depth > 0 ? 'unclosed "{"' : undefined
}

export function matchesAny(name: string, globs: string[]): boolean {
  return globs.some((g) => globToRegExp(g).test(name))
}
