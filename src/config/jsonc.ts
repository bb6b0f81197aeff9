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
