// Identical warnings in a burst are written once: a failing disk, an unreachable upstream or a
// misbehaving client can repeat one warning per request, and on a board every line lands in a
// persistent journal on the SD card. The first line of a burst goes out at once; identical ones
// (same msg and fields) within the window after it are only counted, and when the window ends
// one summary line carries the count. A warning still repeating after that starts a new window:
// a steady stream costs at most two lines per window.

/** The logger's time source; tests inject one they move by hand. */
export interface LogClock {
  now(): number
  /** run `fn` after `ms`, without keeping the process alive */
  setTimeout(fn: () => void, ms: number): void
}

export const systemLogClock: LogClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => void setTimeout(fn, ms).unref(),
}

/** How long identical warnings after the first are counted instead of written. */
export const REPEAT_WINDOW_MS = 10_000

/** Bursts followed at once; past this the oldest is closed (its count written) to make room. */
const MAX_OPEN = 64

interface Burst {
  since: number
  suppressed: number
  msg: string
  fields?: Record<string, unknown>
}

export class RepeatFilter {
  private readonly open = new Map<string, Burst>()

  constructor(
    private readonly clock: LogClock,
    private readonly windowMs: number,
    /** writes the summary of a burst whose repeats were held back */
    private readonly summarize: (
      msg: string,
      fields: Record<string, unknown> | undefined,
      suppressed: number,
    ) => void,
  ) {}

  /** Whether this line is written (the first of its burst) or only counted. */
  admit(msg: string, fields?: Record<string, unknown>): boolean {
    const key = `${msg}\u0000${JSON.stringify(fields ?? {})}`
    const now = this.clock.now()
    const burst = this.open.get(key)
    if (burst && now - burst.since < this.windowMs) {
      burst.suppressed++
      // The summary is due when the window ends, even if the warning never comes back.
      if (burst.suppressed === 1) {
        this.clock.setTimeout(() => this.closeEnded(), burst.since + this.windowMs - now)
      }
      return false
    }
    if (burst) this.close(key, burst)
    this.open.set(key, { since: now, suppressed: 0, msg, fields })
    if (this.open.size > MAX_OPEN) {
      const [oldest, first] = this.open.entries().next().value as [string, Burst]
      this.close(oldest, first)
    }
    return true
  }

  /** Close every burst whose window has ended, writing the summaries that are due. */
  closeEnded(): void {
    const now = this.clock.now()
    for (const [key, burst] of this.open) {
      if (now - burst.since >= this.windowMs) this.close(key, burst)
    }
  }

  private close(key: string, burst: Burst): void {
    this.open.delete(key)
    if (burst.suppressed > 0) this.summarize(burst.msg, burst.fields, burst.suppressed)
  }
}
