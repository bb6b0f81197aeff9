// JSON with comments and trailing commas, as zot's documented examples are written (the storage
// guide's own samples carry both). Comments and trailing commas are blanked out, string contents
// untouched, then the text goes to JSON.parse, so positions in its errors stay true.
export function parseJsonc(text: string): unknown {
  const out = text.split('')
  let i = 0
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' '
  }
  while (i < text.length) {
    const ch = text[i]
    if (ch === '"') {
      i++
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1
      i++
    } else if (ch === '/' && text[i + 1] === '/') {
      const end = text.indexOf('\n', i)
      const stop = end === -1 ? text.length : end
      blank(i, stop)
      i = stop
    } else if (ch === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2)
      const stop = end === -1 ? text.length : end + 2
      blank(i, stop)
      i = stop
    } else if (ch === ',') {
      // A comma followed (past blanks and comments) by a closing bracket is trailing.
      let j = i + 1
      for (;;) {
        while (j < text.length && /\s/.test(text[j])) j++
        if (text[j] === '/' && text[j + 1] === '/') {
          const end = text.indexOf('\n', j)
          j = end === -1 ? text.length : end
        } else if (text[j] === '/' && text[j + 1] === '*') {
          const end = text.indexOf('*/', j + 2)
          j = end === -1 ? text.length : end + 2
        } else break
      }
      if (text[j] === '}' || text[j] === ']') out[i] = ' '
      i++
    } else {
      i++
    }
  }
  return JSON.parse(out.join(''))
}

// V8's "Unexpected token 'S', ..."ey": SECRET}" is not valid JSON" quotes the text around the
// fault, which in a configuration or credentials file may be a key or a password.
const EXCERPT = /^Unexpected token '(.)', (?:\.\.\.)?"(.*?)"(?:\.\.\.)? is not valid JSON$/s

/**
 * JSON.parse's complaint about `text` without any of the text itself, and where it is:
 * " at line L, column C" when the parser said ("at position N", or by its excerpt).
 */
export function jsonProblem(text: string, err: Error): string {
  const excerpt = EXCERPT.exec(err.message)
  if (excerpt) {
    const start = text.indexOf(excerpt[2])
    const at = start < 0 ? -1 : start + excerpt[2].indexOf(excerpt[1])
    return `unexpected character${at < 0 ? '' : lineAndColumn(text, at)}`
  }
  const m = /^(.*?) in JSON at position (\d+)/s.exec(err.message)
  if (m) return `${m[1]}${lineAndColumn(text, Number(m[2]))}`
  return err.message.includes('"') ? 'not valid JSON' : err.message
}

function lineAndColumn(text: string, position: number): string {
  const before = text.slice(0, position).split('\n')
  return ` at line ${before.length}, column ${before[before.length - 1].length + 1}`
}
