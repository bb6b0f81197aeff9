// How fast and when the periodic mirror may transfer (issue 15): one MirrorPacer for the whole
// mirror, shared by every registry's pass. A token bucket holds the bytes to
// `extensions.sync.maxBandwidth`; nothing is granted outside `extensions.sync.window` (local
// time, may wrap midnight), so a pass cut by the window's end waits and carries on in the next
// one; the maintenance budget's CPU and memory limits pause it as they pause GC (through the
// budget service, src/budget), but not its ioRate: the mirror's cap is maxBandwidth. Requests in
// flight keep priority, as with every background task.
import { setTimeout as delay } from 'node:timers/promises'
import { Budget, inWindow, type BudgetClock } from '../../budget/budget.js'
import type { Sampler } from '../../budget/sampler.js'
import type { Pacer } from './types.js'

/** The budget clock, with a sleep a stop request can cut short. */
export interface PacerClock extends BudgetClock {
  sleep(ms: number, signal?: AbortSignal): Promise<void>
}

export const realPacerClock: PacerClock = {
  now: () => performance.now(),
  sleep: (ms, signal) => delay(ms, undefined, { signal }),
  minuteOfDay: () => {
    const d = new Date()
    return d.getHours() * 60 + d.getMinutes()
  },
}

export interface MirrorPacerOptions {
  /** bytes per second across the whole mirror; absent: no cap */
  maxBandwidth?: number
  /** minutes after local midnight [start, end); absent: any time. May wrap midnight. */
  window?: { start: number; end: number }
  /** the maintenance budget's limits that apply to the mirror (its ioRate does not) */
  cpuPercent: number
  minFreeMemory: number
  sampler: Sampler
  clock?: PacerClock
  /** requests being served right now: the mirror yields to them */
  inFlight?: () => number
  log?: (msg: string, fields?: Record<string, unknown>) => void
}

/**
 * The bucket holds at most this many seconds of bytes. Over a transfer of T seconds that starts
 * with a full bucket the rate is at most T / (T - BURST_SECONDS) of the cap: +5% at one second.
 * The bucket starts empty, so the mirror's first transfer gets no burst at all.
 */
const BURST_SECONDS = 0.05
/** A closed window is looked at again at least this often: a wall clock set at boot (no RTC) is noticed within a minute. */
const WINDOW_STEP_MS = 60_000

export interface PacerCounters {
  /** bytes granted */
  bytes: number
  /** milliseconds spent waiting for bandwidth */
  bandwidthWaitMs: number
  /** milliseconds spent waiting for the window to open */
  windowWaitMs: number
}

export interface WindowState {
  open: boolean
  /** open: minutes until it closes; closed: minutes until it opens. Absent: no window. */
  minutes?: number
}

export class MirrorPacer implements Pacer {
  readonly counters: PacerCounters = { bytes: 0, bandwidthWaitMs: 0, windowWaitMs: 0 }
  private readonly clock: PacerClock
  private readonly budget: Budget
  private tokens = 0
  private refilledAt: number
  private waitingForWindow = false

  constructor(private readonly options: MirrorPacerOptions) {
    this.clock = options.clock ?? realPacerClock
    this.refilledAt = this.clock.now()
    // The budget service judges CPU and memory (and yields to requests); the window and the cap
    // are the mirror's own, so the budget gets neither.
    this.budget = new Budget({
      settings: {
        cpuPercent: options.cpuPercent,
        minFreeMemory: options.minFreeMemory,
        ioRate: Infinity,
      },
      sampler: options.sampler,
      clock: this.clock,
      inFlight: options.inFlight,
      log: options.log,
    })
  }

  /** Wait until `bytes` more may be transferred; rejects with the signal's reason on abort. */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const stopped = () => signal?.aborted ?? false
    for (;;) {
      await this.windowOpen(signal)
      await this.budget.acquire(0, stopped)
      signal?.throwIfAborted()
      // A CPU or memory pause may have run past the window's end.
      if (this.isOpen()) break
    }
    await this.pay(bytes, signal)
    // The wait for bandwidth may have, too: paid bytes are granted when the window opens again.
    await this.windowOpen(signal)
    this.counters.bytes += bytes
  }

  /** Where the window stands now, for the status endpoint. */
  window(): WindowState {
    const w = this.options.window
    if (!w || w.start === w.end) return { open: true }
    const minute = this.clock.minuteOfDay()
    const open = inWindow(minute, w)
    return { open, minutes: minutesUntil(minute, open ? w.end : w.start) }
  }

  private isOpen(): boolean {
    const w = this.options.window
    return !w || inWindow(this.clock.minuteOfDay(), w)
  }

  private async windowOpen(signal?: AbortSignal): Promise<void> {
    while (!this.isOpen()) {
      if (!this.waitingForWindow) {
        this.waitingForWindow = true
        this.options.log?.('mirror waits for its window', { opensInMinutes: this.window().minutes })
      }
      signal?.throwIfAborted()
      // Sleep to the minute the window opens, or a minute, whichever is sooner.
      const ms = Math.min(WINDOW_STEP_MS, Math.max(1, (this.window().minutes ?? 1) * 60_000))
      await this.clock.sleep(ms, signal)
      this.counters.windowWaitMs += ms
    }
    if (this.waitingForWindow) {
      this.waitingForWindow = false
      this.options.log?.('mirror window open')
    }
  }

  /** Token bucket: a debt is slept off; concurrent takers queue behind each other's debt. */
  private async pay(bytes: number, signal?: AbortSignal): Promise<void> {
    const rate = this.options.maxBandwidth
    if (rate === undefined || !Number.isFinite(rate) || bytes <= 0) return
    const now = this.clock.now()
    const burst = rate * BURST_SECONDS
    this.tokens = Math.min(burst, this.tokens + ((now - this.refilledAt) / 1000) * rate)
    this.refilledAt = now
    this.tokens -= bytes
    if (this.tokens >= 0) return
    const ms = (-this.tokens / rate) * 1000
    await this.clock.sleep(ms, signal)
    this.counters.bandwidthWaitMs += ms
  }
}

/** Minutes from `minute` to the next `target` minute of the day (1440 when they are equal). */
function minutesUntil(minute: number, target: number): number {
  const d = (target - minute + 1440) % 1440
  return d === 0 ? 1440 : d
}
