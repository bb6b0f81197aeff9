// When GC runs (zot storage guide, "Configuring garbage collection"): the first pass after
// gcDelay, then every gcInterval, or only once when gcInterval is 0. Timers are injected so tests
// drive the schedule without sleeping.
import type { GcSettings } from '../config/index.js'

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms)
    t.unref()
    return t
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
}

/** Start the schedule; returns a function that stops it (and waits for a pass in progress). */
export function scheduleGc(
  settings: GcSettings,
  runPass: () => Promise<unknown>,
  timers: Timers = realTimers,
): () => Promise<void> {
  if (!settings.enabled) return async () => {}
  let stopped = false
  let handle: unknown
  let running: Promise<unknown> = Promise.resolve()
  const tick = () => {
    if (stopped) return
    running = runPass()
      .catch(() => {}) // the pass logs its own failure; the schedule goes on
      .then(() => {
        if (!stopped && settings.intervalMs > 0)
          handle = timers.setTimeout(tick, settings.intervalMs)
      })
  }
  handle = timers.setTimeout(tick, settings.delayMs)
  return async () => {
    stopped = true
    timers.clearTimeout(handle)
    await running
  }
}
