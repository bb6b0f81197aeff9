// What `GET /v2/_outpost/mirror` answers (issue 15, "Seeing it work"): per periodic registry the
// last pass (what it copied, what failed with the upstream's error, why it stopped), the next
// pass, what is in flight, running totals (what the outpost_mirror_* metrics read), and for the
// whole mirror where its window stands. Times are wall-clock ISO strings for people; the
// scheduler itself runs on the monotonic clock (scheduler.ts).
import type { PassFailure, PassReport, PassSkip } from './types.js'
import type { WindowState } from './pacing.js'

export interface PassSummary {
  startedAt: string
  endedAt: string
  durationSeconds: number
  images: PassReport['images']
  bytes: number
  failures: PassFailure[]
  /** images left out on purpose (onlySigned), with why */
  skipped: PassSkip[]
  stoppedBy?: PassReport['stoppedBy']
  reason?: string
}

export interface InFlight {
  startedAt: string
  /** the image being copied now, as repo:reference (absent between images) */
  image?: string
  /** bytes fetched by this pass so far */
  bytes: number
}

/** Running totals since the server started: what the Prometheus counters report. */
export interface MirrorTotals {
  passes: number
  bytes: number
  images: { copied: number; upToDate: number; failed: number; skipped: number }
  /** seconds the last finished pass took */
  lastPassSeconds: number
}

export interface RegistryStatus {
  /** the upstream's name (host of its first url) */
  upstream: string
  urls: string[]
  pollIntervalSeconds: number
  lastPass?: PassSummary
  /** absent while a pass runs, and after stop */
  nextPassAt?: string
  inFlight?: InFlight
  totals: MirrorTotals
}

export interface MirrorStatus {
  enabled: true
  /** bytes per second across the mirror; absent: no cap */
  maxBandwidth?: number
  /** absent: any time of day */
  window?: { open: boolean; closesInMinutes?: number; opensInMinutes?: number }
  registries: RegistryStatus[]
}

export function emptyTotals(): MirrorTotals {
  return { passes: 0, bytes: 0, images: emptyImages(), lastPassSeconds: 0 }
}

function emptyImages(): MirrorTotals['images'] {
  return { copied: 0, upToDate: 0, failed: 0, skipped: 0 }
}

/** Adds a finished pass to the running totals. */
export function addPass(totals: MirrorTotals, report: PassReport): void {
  totals.passes++
  totals.images.copied += report.images.copied
  totals.images.upToDate += report.images.upToDate
  totals.images.failed += report.images.failed
  totals.images.skipped += report.images.skipped
  totals.lastPassSeconds = Math.max(0, report.endedAt - report.startedAt) / 1000
}

export function summarize(report: PassReport): PassSummary {
  return {
    startedAt: iso(report.startedAt),
    endedAt: iso(report.endedAt),
    durationSeconds: Math.max(0, report.endedAt - report.startedAt) / 1000,
    images: report.images,
    bytes: report.bytes,
    failures: report.failures,
    skipped: report.skipped,
    ...(report.stoppedBy && { stoppedBy: report.stoppedBy }),
    ...(report.reason && { reason: report.reason }),
  }
}

/** The window as the status shows it; undefined when the mirror has none. */
export function windowStatus(
  configured: boolean,
  state: WindowState,
): MirrorStatus['window'] | undefined {
  if (!configured || state.minutes === undefined) return undefined
  return state.open
    ? { open: true, closesInMinutes: state.minutes }
    : { open: false, opensInMinutes: state.minutes }
}

export function iso(wallMs: number): string {
  return new Date(wallMs).toISOString()
}
