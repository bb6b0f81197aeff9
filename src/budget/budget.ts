// The budget service (docs/architecture.md §5.9): background work (GC, scrub, the dedupe pass) asks
// before each small unit and is told to wait while the machine is busy with something else.
// It pauses while others' CPU load is above budget or available memory is below the floor, keeps
// the work's own read+write rate at or under ioRate with a token bucket, runs only inside the
// maintenance window when one is set, and slows down while requests are in flight.
import type { Sample, Sampler } from './sampler.js'

export interface BudgetSettings {
  /** pause while CPU load from others exceeds this percent of all CPUs */
  cpuPercent: number
  /** pause while available memory is below this many bytes */
  minFreeMemory: number
  /** bytes per second background work may read and write */
  ioRate: number
  /** minutes after local midnight [start, end); undefined: any time. May wrap midnight. */
  window?: { start: number; end: number }
}

export interface BudgetClock {
  now(): number
  sleep(ms: number): Promise<void>
  /** minutes since local midnight */
  minuteOfDay(): number
}

export const realBudgetClock: BudgetClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  minuteOfDay: () => {
    const d = new Date()
    return d.getHours() * 60 + d.getMinutes()
  },
}

/** io: the storage device is busy with others' reads and writes beyond our whole ioRate. */
export type ThrottleReason = 'cpu' | 'memory' | 'window' | 'io'

export interface BudgetCounters {
  /** bytes granted to background work */
  bytes: number
  /** milliseconds spent waiting for I/O tokens */
  ioWaitMs: number
  /** milliseconds paused for each reason */
  pausedMs: Record<ThrottleReason, number>
  /** times throttling started, per reason */
  throttles: Record<ThrottleReason, number>
  /** the storage device's read+write rate not caused by background work, at the last sample */
  othersIoBytesPerSecond: number
}

export interface BudgetOptions {
  settings: BudgetSettings
  sampler: Sampler
  clock?: BudgetClock
  /** requests being served right now; background work yields while there are any */
  inFlight?: () => number
  log?: (msg: string, fields?: Record<string, unknown>) => void
  /** how long a sample stays fresh */
  sampleEveryMs?: number
  /** how long to wait before re-checking a paused condition */
  pauseStepMs?: number
}

/**
 * The share of time background work may take while requests are in flight (see acquire): a fifth,
 * so foreground work keeps at least 80% of a core (issue 17's bar for a pull during scrub).
 */
export const BACKGROUND_SHARE = 0.2
/** Longer than any unit of background work takes: a longer gap between two units is idle time. */
const MAX_UNIT_MS = 250

export class Budget {
  readonly counters: BudgetCounters = {
    bytes: 0,
    ioWaitMs: 0,
    pausedMs: { cpu: 0, memory: 0, window: 0, io: 0 },
    throttles: { cpu: 0, memory: 0, window: 0, io: 0 },
    othersIoBytesPerSecond: 0,
  }
  private tokens: number
  private refilledAt: number
  private sample?: { at: number; value: Sample }
  private throttled?: ThrottleReason
  private deviceMark?: { at: number; device: number; granted: number }
  private readonly clock: BudgetClock
  /** when the last unit was granted: the time to the next acquire is what that unit took */
  private grantedAt?: number

  constructor(private readonly options: BudgetOptions) {
    this.clock = options.clock ?? realBudgetClock
    this.tokens = options.settings.ioRate // a one-second burst
    this.refilledAt = this.clock.now()
  }

  /** what background work is paused for right now (undefined: it runs at its allowance) */
  get pausedFor(): ThrottleReason | undefined {
    return this.throttled
  }

  get settings(): BudgetSettings {
    return this.options.settings
  }

  /**
   * Wait until a unit of background work that reads or writes `ioBytes` may run. Units should be
   * small (a megabyte, one blob, one repository's index) so that a pause takes effect quickly.
   */
  async acquire(ioBytes = 0, shouldStop: () => boolean = () => false): Promise<void> {
    const began = this.clock.now()
    for (let paid = false; ;) {
      if (shouldStop()) return
      const reason = await this.blocked()
      if (!reason) {
        this.noteThrottle(undefined)
        if (paid) break
        await this.takeTokens(ioBytes, shouldStop)
        // The wait for tokens may have run past the window's end or into a busy spell: the
        // conditions are checked again right before the unit runs.
        paid = true
        continue
      }
      this.noteThrottle(reason)
      const step = this.options.pauseStepMs ?? 1000
      await this.clock.sleep(step)
      this.counters.pausedMs[reason] += step
    }
    // Foreground first: while requests are in flight, background work gets at most
    // FOREGROUND_SHARE of the time. The unit that just ran (from the last grant to this call) is
    // paid back with a wait proportionally longer, at least 5 ms: on a one-core board a scrub
    // that hashes between a pull's socket writes would otherwise take half the core from it.
    if ((this.options.inFlight?.() ?? 0) > 0) {
      // Capped: a unit is small by contract, and a long gap is idle time (between passes).
      const since = this.grantedAt === undefined ? 0 : began - this.grantedAt
      const ranMs = Math.min(MAX_UNIT_MS, Math.max(0, since))
      await this.clock.sleep(Math.max(5, (ranMs * (1 - BACKGROUND_SHARE)) / BACKGROUND_SHARE))
    }
    this.grantedAt = this.clock.now()
  }

  private async blocked(): Promise<ThrottleReason | undefined> {
    const { settings } = this.options
    if (settings.window && !inWindow(this.clock.minuteOfDay(), settings.window)) return 'window'
    const sample = await this.currentSample()
    if (sample.othersCpuPercent > settings.cpuPercent) return 'cpu'
    if (sample.availableMemory < settings.minFreeMemory) return 'memory'
    if (this.counters.othersIoBytesPerSecond > settings.ioRate) return 'io'
    return undefined
  }

  private async currentSample(): Promise<Sample> {
    const now = this.clock.now()
    if (!this.sample || now - this.sample.at >= (this.options.sampleEveryMs ?? 1000)) {
      const value = await this.options.sampler.sample()
      this.noteDeviceIo(now, value)
      this.sample = { at: now, value }
    }
    return this.sample.value
  }

  /**
   * Token bucket: refill at ioRate, at most one second's worth; a debt is slept off, in steps
   * so that a stop request ends the wait as promptly as it ends a pause.
   */
  private async takeTokens(bytes: number, shouldStop: () => boolean): Promise<void> {
    const rate = this.options.settings.ioRate
    this.counters.bytes += bytes
    if (!Number.isFinite(rate) || bytes === 0) return
    const now = this.clock.now()
    this.tokens = Math.min(rate, this.tokens + ((now - this.refilledAt) / 1000) * rate)
    this.refilledAt = now
    this.tokens -= bytes
    if (this.tokens >= 0) return
    let waitMs = (-this.tokens / rate) * 1000
    const step = this.options.pauseStepMs ?? 1000
    while (waitMs > 0 && !shouldStop()) {
      const ms = Math.min(step, waitMs)
      await this.clock.sleep(ms)
      this.counters.ioWaitMs += ms
      waitMs -= ms
    }
  }

  /**
   * Others' I/O on the storage device: the device's counters moved by more than what this
   * service granted to background work over the same time.
   */
  private noteDeviceIo(now: number, value: Sample): void {
    const previous = this.deviceMark
    if (value.deviceIoBytes === undefined) return
    this.deviceMark = { at: now, device: value.deviceIoBytes, granted: this.counters.bytes }
    if (!previous || now <= previous.at) return
    const seconds = (now - previous.at) / 1000
    const device = value.deviceIoBytes - previous.device
    const ours = this.counters.bytes - previous.granted
    this.counters.othersIoBytesPerSecond = Math.max(0, (device - ours) / seconds)
  }

  private noteThrottle(reason: ThrottleReason | undefined): void {
    if (reason === this.throttled) return
    if (reason) {
      this.counters.throttles[reason]++
      this.options.log?.('background work paused', { reason })
    } else {
      this.options.log?.('background work resumed', { after: this.throttled })
    }
    this.throttled = reason
  }
}

export function inWindow(minute: number, window: { start: number; end: number }): boolean {
  if (window.start === window.end) return true
  return window.start < window.end
    ? minute >= window.start && minute < window.end
    : minute >= window.start || minute < window.end
}

/** A budget that never waits, for offline commands asked to run flat out and for tests. */
export function unlimitedBudget(): Budget {
  return new Budget({
    settings: { cpuPercent: 100, minFreeMemory: 0, ioRate: Infinity },
    sampler: { sample: async () => ({ othersCpuPercent: 0, availableMemory: Infinity }) },
  })
}
