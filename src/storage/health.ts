// Backend health from what requests see (issue 14). The shared wrapper (checked-driver.ts) reports
// every call of a watched driver to its BackendHealth; an error the driver classifies as the
// backend itself being unusable (`unavailable`: an S3 endpoint unreachable, a local root
// read-only or gone) arrives as StorageUnavailableError, which src/api/errors.ts answers with 503
// UNAVAILABLE. The same reports carry each call's duration, summed per operation for the
// metrics (`timings`), as distribution's base driver times each storage action. Readiness
// reads the state and probes the backend only when the state is unhealthy or stale, at most once
// per probe interval: /readyz never costs a backend call of its own (an S3 link may be metered).
import {
  openDriver,
  type Access,
  type CallOutcome,
  type DriverObserver,
  type Operation,
} from './checked-driver.js'
import { StorageUnavailableError, type StorageDriver, type Unavailability } from './driver.js'

export interface HealthReport {
  backend: string
  healthy: boolean
  /** why not, e.g. "unreachable: ECONNREFUSED" */
  reason?: string
  /** when it stopped being healthy (ISO 8601) */
  since?: string
}

export interface HealthTiming {
  /** least time between two probes */
  probeIntervalMs: number
  /** a healthy state with no call for this long is probed again before it is reported */
  staleMs: number
  /** a probe that takes longer than this counts as failed */
  probeTimeoutMs: number
}

export const DEFAULT_HEALTH_TIMING: HealthTiming = {
  probeIntervalMs: 10_000,
  staleMs: 60_000,
  probeTimeoutMs: 5_000,
}

/** The calls of one operation so far. */
export interface OperationTiming {
  calls: number
  /** calls that failed other than by absence (unavailable, or any other error) */
  failures: number
  /** their durations, summed */
  seconds: number
}

interface Failure {
  reason: string
  access: Access
  sinceMs: number
}

export class BackendHealth implements DriverObserver {
  private failure?: Failure
  private readonly times = new Map<Operation, OperationTiming>()
  private lastEvidence = performance.now()
  private lastProbe = -Infinity
  private probing?: Promise<void>

  constructor(
    private readonly driver: StorageDriver,
    readonly backend: string,
    private readonly timing: HealthTiming = DEFAULT_HEALTH_TIMING,
  ) {}

  /** What the wrapper reports of each call (checked-driver.ts). */
  called(outcome: CallOutcome): void {
    let time = this.times.get(outcome.operation)
    if (!time) this.times.set(outcome.operation, (time = { calls: 0, failures: 0, seconds: 0 }))
    time.calls++
    time.seconds += outcome.ms / 1000
    if (outcome.result === 'ok') this.succeeded(outcome.access)
    // The backend answered "no such object": it is there and working.
    else if (outcome.result === 'absent') this.succeeded('read')
    else {
      time.failures++
      if (outcome.why) this.failed(outcome.why)
    }
  }

  /** Calls, failures and time spent per operation since the backend was opened. */
  timings(): Partial<Record<Operation, OperationTiming>> {
    return Object.fromEntries([...this.times].map(([op, t]) => [op, { ...t }]))
  }

  /** A call succeeded: a write clears any failure, a read clears a failure of reads. */
  succeeded(access: Access): void {
    this.lastEvidence = performance.now()
    if (this.failure && (access === 'write' || this.failure.access === 'read')) {
      this.failure = undefined
    }
  }

  failed(why: Unavailability): void {
    this.lastEvidence = performance.now()
    const sinceMs = this.failure?.sinceMs ?? Date.now()
    this.failure = { reason: why.reason, access: why.writesOnly ? 'write' : 'read', sinceMs }
  }

  /** The state for readiness, probing first when it is unhealthy or stale and a probe is due. */
  async report(): Promise<HealthReport> {
    if (this.probeDue()) {
      this.lastProbe = performance.now()
      this.probing ??= this.probe().finally(() => (this.probing = undefined))
    }
    if (this.probing) await this.probing
    const f = this.failure
    return f
      ? {
          backend: this.backend,
          healthy: false,
          reason: f.reason,
          since: new Date(f.sinceMs).toISOString(),
        }
      : { backend: this.backend, healthy: true }
  }

  private probeDue(): boolean {
    if (!this.driver.probe) return false
    const now = performance.now()
    if (now - this.lastProbe < this.timing.probeIntervalMs) return false
    return this.failure !== undefined || now - this.lastEvidence >= this.timing.staleMs
  }

  private async probe(): Promise<void> {
    try {
      await this.driver.probe!(AbortSignal.timeout(this.timing.probeTimeoutMs))
      this.succeeded('write')
    } catch (err) {
      const e = err as { name?: string; code?: string; message?: string }
      this.failed(
        (err instanceof StorageUnavailableError ? err : this.driver.unavailable?.(err)) ?? {
          reason: `probe failed: ${e?.code ?? e?.name ?? e?.message ?? String(err)}`,
        },
      )
    }
  }
}

/** `driver` opened (openDriver) with every call's outcome and duration recorded in a new BackendHealth. */
export function watchHealth(
  driver: StorageDriver,
  timing?: HealthTiming,
): { driver: StorageDriver; health: BackendHealth } {
  const health = new BackendHealth(driver, driver.label ?? 'storage', timing)
  return { driver: openDriver(driver, { observer: health }), health }
}
