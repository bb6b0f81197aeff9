// The periodic mirror (issue 15): for each registry with a pollInterval, a pass every interval,
// the first one soon after start, never two at once for one registry. Intervals run on the
// monotonic clock (src/util/clock.ts): a board without a real-time clock whose wall clock
// leaps years when NTP syncs neither runs every missed pass at once nor waits forever. Stopping
// aborts the passes in flight through their AbortSignal and waits for them to wind down.
import { setTimeout as delay } from 'node:timers/promises'
import type { UpstreamSettings } from '../../config/sync.js'
import { systemClock, type Clock } from '../../util/clock.js'
import type { LogFn } from '../../registry/index.js'
import type { WindowState } from './pacing.js'
import {
  addPass,
  emptyTotals,
  iso,
  summarize,
  windowStatus,
  type InFlight,
  type MirrorStatus,
  type MirrorTotals,
  type PassSummary,
  type RegistryStatus,
} from './status.js'
import type { MirrorDeps, PassEvent, PassOptions, PassReport } from './types.js'

/** One pass over one registry: mirror-pass.ts's runMirrorPass. */
export type RunPass = (
  deps: MirrorDeps,
  registry: UpstreamSettings,
  opts: PassOptions,
) => Promise<PassReport>

export interface MirrorOptions {
  /** the periodic registries, each with what its passes run on */
  registries: Array<{ settings: UpstreamSettings; deps: MirrorDeps }>
  runPass: RunPass
  /** where the shared pacer's window stands, for the status */
  windowState?: () => WindowState
  maxBandwidth?: number
  window?: { start: number; end: number }
  log: LogFn
  clock?: Clock
  /** waits on the monotonic clock; rejects when the signal aborts */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>
  /** the first pass starts this long after start() */
  firstPassAfterMs?: number
}

/** The first pass waits for the server to settle (the startup index and dedupe passes). */
const FIRST_PASS_AFTER_MS = 10_000
/** Node's timers hold at most 2^31-1 ms: a longer interval is slept in steps. */
const MAX_SLEEP_MS = 2 ** 31 - 1

interface Tracked {
  settings: UpstreamSettings
  deps: MirrorDeps
  upstream: string
  /** monotonic ms when the next pass is due */
  nextDue: number
  current?: Promise<PassReport>
  inFlight?: InFlight
  lastPass?: PassSummary
  totals: MirrorTotals
}

export class Mirror {
  private readonly tracked: Tracked[]
  private readonly controller = new AbortController()
  private readonly clock: Clock
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>
  private loops: Array<Promise<void>> = []

  constructor(private readonly options: MirrorOptions) {
    this.clock = options.clock ?? systemClock
    this.sleep = options.sleep ?? ((ms, signal) => delay(ms, undefined, { signal, ref: false }))
    this.tracked = options.registries.map(({ settings, deps }) => ({
      settings,
      deps,
      upstream: upstreamName(settings),
      nextDue: Infinity,
      totals: emptyTotals(),
    }))
  }

  /** Starts every registry's schedule. */
  start(): void {
    const first = this.options.firstPassAfterMs ?? FIRST_PASS_AFTER_MS
    for (const t of this.tracked) {
      t.nextDue = this.clock.monoMs() + first
      this.loops.push(this.loop(t))
    }
  }

  /** Aborts the passes in flight and waits for them and the schedules to end. */
  async stop(): Promise<void> {
    this.controller.abort(new Error('the mirror is stopping'))
    await Promise.all(this.loops)
    await Promise.all(this.tracked.map((t) => t.current?.catch(() => {})))
  }

  /**
   * One pass over every registry now, one registry after another (`outpost mirror --once`); a
   * registry whose pass is already running is waited for instead of passed over twice.
   */
  async runOnce(opts: Omit<PassOptions, 'signal'> = {}): Promise<PassReport[]> {
    const reports: PassReport[] = []
    for (const t of this.tracked) reports.push(await this.pass(t, opts))
    return reports
  }

  status(): MirrorStatus {
    const { windowState, maxBandwidth, window } = this.options
    const shownWindow = windowState && windowStatus(window !== undefined, windowState())
    return {
      enabled: true,
      ...(maxBandwidth !== undefined && { maxBandwidth }),
      ...(shownWindow && { window: shownWindow }),
      registries: this.tracked.map((t) => this.registryStatus(t)),
    }
  }

  /** Running totals per upstream, for the Prometheus metrics. */
  totals(): Array<{ upstream: string; totals: MirrorTotals; inFlight: boolean }> {
    return this.tracked.map((t) => ({
      upstream: t.upstream,
      totals: t.totals,
      inFlight: t.current !== undefined,
    }))
  }

  private registryStatus(t: Tracked): RegistryStatus {
    const stopped = this.controller.signal.aborted
    const untilNext = t.nextDue - this.clock.monoMs()
    return {
      upstream: t.upstream,
      urls: t.settings.urls,
      pollIntervalSeconds: (t.settings.pollIntervalMs ?? 0) / 1000,
      ...(t.lastPass && { lastPass: t.lastPass }),
      ...(!stopped &&
        !t.current &&
        Number.isFinite(t.nextDue) && {
          nextPassAt: iso(this.clock.wallMs() + Math.max(0, untilNext)),
        }),
      ...(t.inFlight && { inFlight: { ...t.inFlight } }),
      totals: t.totals,
    }
  }

  private async loop(t: Tracked): Promise<void> {
    const { signal } = this.controller
    const interval = t.settings.pollIntervalMs ?? Infinity
    while (!signal.aborted) {
      const wait = t.nextDue - this.clock.monoMs()
      if (wait > 0) {
        try {
          await this.sleep(Math.min(wait, MAX_SLEEP_MS), signal)
        } catch {
          break // stopping
        }
        continue
      }
      // Due from this pass's start: a pass longer than the interval is followed at once by the
      // next, never by a burst of the ones it overlapped.
      t.nextDue = this.clock.monoMs() + interval
      await this.pass(t, {})
    }
  }

  private pass(t: Tracked, opts: Omit<PassOptions, 'signal'>): Promise<PassReport> {
    if (t.current) return t.current
    const current = this.run(t, opts).finally(() => {
      t.current = undefined
      t.inFlight = undefined
    })
    t.current = current
    return current
  }

  private async run(t: Tracked, opts: Omit<PassOptions, 'signal'>): Promise<PassReport> {
    const { signal } = this.controller
    const startedAt = this.clock.wallMs()
    const inFlight: InFlight = { startedAt: iso(startedAt), bytes: 0 }
    t.inFlight = inFlight
    const progress = (e: PassEvent) => {
      if (e.kind === 'image-start') inFlight.image = `${e.repo}:${e.reference}`
      else if (e.kind === 'bytes') {
        inFlight.bytes += e.n
        if (!opts.dryRun) t.totals.bytes += e.n
      } else if (e.kind === 'image-done' || e.kind === 'image-failed' || e.kind === 'image-skipped')
        inFlight.image = undefined
      opts.progress?.(e)
    }
    this.options.log('mirror pass started', { upstream: t.upstream, dryRun: !!opts.dryRun })
    let report: PassReport
    try {
      report = await this.options.runPass(t.deps, t.settings, { ...opts, signal, progress })
    } catch (err) {
      // The engine reports what it can; anything it throws ends the pass, said the same way.
      report = {
        upstream: t.upstream,
        startedAt,
        endedAt: this.clock.wallMs(),
        images: { copied: 0, upToDate: 0, failed: 0, skipped: 0 },
        bytes: inFlight.bytes,
        failures: [],
        skipped: [],
        ...(signal.aborted
          ? { stoppedBy: 'aborted' as const }
          : (err as Error)?.name === 'UpstreamError' && {
              stoppedBy: 'upstream-unreachable' as const,
            }),
        reason: String((err as Error)?.message ?? err),
      }
    }
    if (opts.dryRun) return report
    // Bytes the engine did not announce as events still count.
    t.totals.bytes += Math.max(0, report.bytes - inFlight.bytes)
    addPass(t.totals, report)
    t.lastPass = summarize(report)
    this.options.log('mirror pass ended', {
      upstream: t.upstream,
      ...report.images,
      bytes: report.bytes,
      ...(report.stoppedBy && { stoppedBy: report.stoppedBy, reason: report.reason }),
    })
    for (const f of report.failures) this.options.log('mirror: image failed', { ...f })
    return report
  }
}

/** The upstream as the status and metrics name it: the host of its first url. */
export function upstreamName(settings: UpstreamSettings): string {
  return new URL(settings.urls[0]).host
}
