// Backend health from what requests see (issue 14). Every call through a HealthWatchedDriver
// updates its BackendHealth; an error the driver classifies as the backend itself being unusable
// (`unavailable`: an S3 endpoint unreachable, a local root read-only or gone) is rethrown as
// StorageUnavailableError, which src/api/errors.ts answers with 503 UNAVAILABLE. Readiness
// reads the state and probes the backend only when the state is unhealthy or stale, at most once
// per probe interval: /readyz never costs a backend call of its own (an S3 link may be metered).
import type { Readable } from 'node:stream'
import {
  StorageNotFoundError,
  StorageUnavailableError,
  type ListEntry,
  type ObjectInfo,
  type ReadOptions,
  type StorageDriver,
  type Unavailability,
  type WriteOptions,
} from './driver.js'

/**
 * Whether a call only looked at the backend or changed it. A failure's scope is 'write' when only
 * writes fail (a read-only root), 'read' when reads fail too: a success clears the failures its
 * own call would have met.
 */
export type Access = 'read' | 'write'

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

interface Failure {
  reason: string
  access: Access
  sinceMs: number
}

export class BackendHealth {
  private failure?: Failure
  private lastEvidence = performance.now()
  private lastProbe = -Infinity
  private probing?: Promise<void>

  constructor(
    private readonly driver: StorageDriver,
    readonly backend: string,
    private readonly timing: HealthTiming = DEFAULT_HEALTH_TIMING,
  ) {}

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

/** `inner` with every call's outcome recorded in `health` (see the module comment). */
export class HealthWatchedDriver implements StorageDriver {
  readonly appends?: boolean
  readonly localRoot?: string
  readonly label?: string
  readonly link?: (from: string, to: string) => Promise<void>
  readonly refer?: (target: string, key: string) => Promise<void>
  readonly copy?: (from: string, to: string) => Promise<void>
  readonly space?: () => Promise<{ free: number; total: number }>
  readonly checkWritable?: (key: string) => void
  readonly unavailable?: (err: unknown) => Unavailability | undefined
  readonly probe?: (signal: AbortSignal) => Promise<void>

  constructor(
    private readonly inner: StorageDriver,
    readonly health: BackendHealth,
  ) {
    this.appends = inner.appends
    this.localRoot = inner.localRoot
    this.label = inner.label
    // Capabilities stay absent where the inner driver lacks them: callers test for them.
    if (inner.link) this.link = (f, t) => this.watch('write', () => inner.link!(f, t))
    if (inner.refer) this.refer = (f, t) => this.watch('write', () => inner.refer!(f, t))
    if (inner.copy) this.copy = (f, t) => this.watch('write', () => inner.copy!(f, t))
    if (inner.space) this.space = () => this.watch('read', () => inner.space!())
    if (inner.checkWritable) this.checkWritable = (key) => inner.checkWritable!(key)
    if (inner.unavailable) this.unavailable = (err) => inner.unavailable!(err)
    if (inner.probe) this.probe = (signal) => inner.probe!(signal)
  }

  get(key: string): Promise<Buffer> {
    return this.watch('read', () => this.inner.get(key))
  }

  put(key: string, bytes: Uint8Array): Promise<void> {
    return this.watch('write', () => this.inner.put(key, bytes))
  }

  read(key: string, options?: ReadOptions): Promise<Readable> {
    return this.watch('read', () => this.inner.read(key, options))
  }

  write(key: string, source: Readable, options?: WriteOptions): Promise<number> {
    return this.watch('write', () => this.inner.write(key, source, options))
  }

  stat(key: string): Promise<ObjectInfo | null> {
    return this.watch('read', () => this.inner.stat(key))
  }

  async *list(prefix: string): AsyncIterable<ListEntry> {
    try {
      yield* this.inner.list(prefix)
    } catch (err) {
      throw this.seen(err)
    }
    this.health.succeeded('read')
  }

  move(from: string, to: string): Promise<void> {
    return this.watch('write', () => this.inner.move(from, to))
  }

  delete(key: string): Promise<void> {
    return this.watch('write', () => this.inner.delete(key))
  }

  deletePrefix(prefix: string): Promise<void> {
    return this.watch('write', () => this.inner.deletePrefix(prefix))
  }

  prune(prefix: string): Promise<void> {
    return this.watch('write', () => this.inner.prune(prefix))
  }

  private async watch<T>(access: Access, call: () => Promise<T>): Promise<T> {
    try {
      const result = await call()
      this.health.succeeded(access)
      return result
    } catch (err) {
      throw this.seen(err)
    }
  }

  /** Record what a failure says about the backend; returns the error to throw. */
  private seen(err: unknown): unknown {
    // The backend answered "no such object": it is there and working.
    if (err instanceof StorageNotFoundError) {
      this.health.succeeded('read')
      return err
    }
    if (err instanceof StorageUnavailableError) {
      this.health.failed(err)
      return err
    }
    const why = this.inner.unavailable?.(err)
    if (why === undefined) return err
    this.health.failed(why)
    return new StorageUnavailableError(this.health.backend, why, { cause: err })
  }
}

/** `driver` watched by a new BackendHealth. */
export function watchHealth(
  driver: StorageDriver,
  timing?: HealthTiming,
): { driver: HealthWatchedDriver; health: BackendHealth } {
  const health = new BackendHealth(driver, driver.label ?? 'storage', timing)
  return { driver: new HealthWatchedDriver(driver, health), health }
}
