// Go duration strings ("90m", "1h30m", "1.5h", "300ms"), as zot's config writes gcDelay and
// gcInterval (Go's time.ParseDuration). A bare "0" is zero.
import { z } from 'zod'

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
}

export function parseDuration(text: string): number {
  if (text === '0') return 0
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y
  let total = 0
  let at = 0
  while (at < text.length) {
    re.lastIndex = at
    const m = re.exec(text)
    if (!m)
      throw new Error(`invalid duration ${JSON.stringify(text)} (expected e.g. "90m", "1h30m")`)
    total += Number(m[1]) * UNIT_MS[m[2]]
    at = re.lastIndex
  }
  if (text.length === 0) throw new Error('empty duration')
  return total
}

/** A duration in milliseconds, or NaN when the text is not a Go duration. */
export function durationMs(text: string): number {
  try {
    return parseDuration(text)
  } catch {
    return NaN
  }
}

/** A configuration key holding a Go duration string. */
export const durationSchema = z.string().refine((s) => !Number.isNaN(durationMs(s)), {
  message: 'expected a Go duration such as "90m" or "1h30m"',
})
