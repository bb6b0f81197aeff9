// The one wrapper every driver is opened through, as CNCF distribution's `base` driver wraps
// each of its drivers: what would otherwise be repeated (and forgotten) in each driver happens
// here, once. Every key is checked (checkKey) before the driver sees it; an error that says the
// backend itself cannot be used (the driver's `unavailable`) becomes StorageUnavailableError
// naming the backend; and each call is timed and reported, with its outcome, to an observer
// (health.ts keeps both: readiness and per-operation durations for the metrics). Capabilities
// pass through unchanged and stay absent where the driver lacks them: callers test for them.
import type { Readable } from 'node:stream'
import type { FileSource } from './file-source.js'
import {
  checkKey,
  StorageKeyError,
  StorageNotFoundError,
  StorageUnavailableError,
  type ListEntry,
  type ObjectInfo,
  type ReadOptions,
  type StorageDriver,
  type Unavailability,
  type WriteOptions,
} from './driver.js'

/** The timed operations: the core's and the capabilities that touch the backend. */
export type Operation =
  | 'get'
  | 'put'
  | 'read'
  | 'write'
  | 'stat'
  | 'list'
  | 'move'
  | 'delete'
  | 'deletePrefix'
  | 'prune'
  | 'link'
  | 'refer'
  | 'copy'
  | 'space'
  | 'openFile'

/**
 * Whether a call only looked at the backend or changed it. A failure's scope is 'write' when only
 * writes fail (a read-only root), 'read' when reads fail too: a success clears the failures its
 * own call would have met.
 */
export type Access = 'read' | 'write'

/** One call, as the observer hears of it once it has ended. */
export interface CallOutcome {
  operation: Operation
  access: Access
  /** from the call to its result (for `read`: until the stream is handed over; for `list`: the whole listing) */
  ms: number
  /**
   * 'ok'; 'absent' (StorageNotFoundError: the backend answered, so it works); 'unavailable'
   * (the backend cannot be used, `why` says how); 'failed' (any other error)
   */
  result: 'ok' | 'absent' | 'unavailable' | 'failed'
  why?: Unavailability
}

export interface DriverObserver {
  called(outcome: CallOutcome): void
}

export interface OpenDriverOptions {
  /** hears of every call's outcome and duration (a BackendHealth, health.ts) */
  observer?: DriverObserver
}

/** `driver` behind the shared wrapper: how every driver is opened (see the module comment). */
export function openDriver(driver: StorageDriver, options: OpenDriverOptions = {}): StorageDriver {
  return new CheckedDriver(driver, options.observer)
}

function checkPrefix(prefix: string): string {
  return prefix === '' ? prefix : checkKey(prefix)
}

class CheckedDriver implements StorageDriver {
  readonly label?: string
  // Declared, not defined: a capability the inner driver lacks is no property at all here.
  declare readonly appends?: boolean
  declare readonly localRoot?: string
  declare readonly link?: (from: string, to: string) => Promise<void>
  declare readonly refer?: (target: string, key: string) => Promise<void>
  declare readonly copy?: (from: string, to: string) => Promise<void>
  declare readonly space?: () => Promise<{ free: number; total: number }>
  declare readonly checkWritable?: (key: string) => void
  declare readonly unavailable?: (err: unknown) => Unavailability | undefined
  declare readonly probe?: (signal: AbortSignal) => Promise<void>
  declare readonly openFile?: (key: string, options?: ReadOptions) => Promise<FileSource>

  constructor(
    private readonly inner: StorageDriver,
    private readonly observer?: DriverObserver,
  ) {
    this.label = inner.label
    if (inner.appends !== undefined) this.appends = inner.appends
    if (inner.localRoot !== undefined) this.localRoot = inner.localRoot
    const { link, refer, copy, space, checkWritable, unavailable, probe, openFile } = inner
    if (link)
      this.link = (f, t) =>
        this.call('link', 'write', () => link.call(inner, checkKey(f), checkKey(t)))
    if (refer)
      this.refer = (f, t) =>
        this.call('refer', 'write', () => refer.call(inner, checkKey(f), checkKey(t)))
    if (copy)
      this.copy = (f, t) =>
        this.call('copy', 'write', () => copy.call(inner, checkKey(f), checkKey(t)))
    if (space) this.space = () => this.call('space', 'read', () => space.call(inner))
    if (checkWritable) this.checkWritable = (key) => checkWritable.call(inner, checkKey(key))
    if (unavailable) this.unavailable = (err) => unavailable.call(inner, err)
    if (probe) this.probe = (signal) => probe.call(inner, signal)
    if (openFile) {
      this.openFile = (key, options) =>
        this.call('openFile', 'read', () => openFile.call(inner, checkKey(key), options))
    }
  }

  get(key: string): Promise<Buffer> {
    return this.call('get', 'read', () => this.inner.get(checkKey(key)))
  }

  put(key: string, bytes: Uint8Array): Promise<void> {
    return this.call('put', 'write', () => this.inner.put(checkKey(key), bytes))
  }

  read(key: string, options?: ReadOptions): Promise<Readable> {
    return this.call('read', 'read', () => this.inner.read(checkKey(key), options))
  }

  write(key: string, source: Readable, options?: WriteOptions): Promise<number> {
    return this.call('write', 'write', () => this.inner.write(checkKey(key), source, options))
  }

  stat(key: string): Promise<ObjectInfo | null> {
    return this.call('stat', 'read', () => this.inner.stat(checkKey(key)))
  }

  async *list(prefix: string): AsyncIterable<ListEntry> {
    const started = performance.now()
    let ended = false
    try {
      yield* this.inner.list(checkPrefix(prefix))
    } catch (err) {
      ended = true
      throw this.failed('list', 'read', started, err)
    } finally {
      // Also when the consumer stops early: what was listed so far was listed fine.
      if (!ended) this.report('list', 'read', started, 'ok')
    }
  }

  move(from: string, to: string): Promise<void> {
    return this.call('move', 'write', () => this.inner.move(checkKey(from), checkKey(to)))
  }

  delete(key: string): Promise<void> {
    return this.call('delete', 'write', () => this.inner.delete(checkKey(key)))
  }

  deletePrefix(prefix: string): Promise<void> {
    return this.call('deletePrefix', 'write', () => this.inner.deletePrefix(checkKey(prefix)))
  }

  prune(prefix: string): Promise<void> {
    return this.call('prune', 'write', () => this.inner.prune(checkKey(prefix)))
  }

  /** Run one call of the inner driver: a bad key never reaches it (StorageKeyError). */
  private async call<T>(operation: Operation, access: Access, run: () => Promise<T>): Promise<T> {
    const started = performance.now()
    try {
      const result = await run()
      this.report(operation, access, started, 'ok')
      return result
    } catch (err) {
      throw this.failed(operation, access, started, err)
    }
  }

  /** Report a failed call; returns the error to throw (see the module comment). */
  private failed(operation: Operation, access: Access, started: number, err: unknown): unknown {
    if (err instanceof StorageKeyError) return err // refused here: the backend was not asked
    if (err instanceof StorageNotFoundError) {
      this.report(operation, access, started, 'absent')
      return err
    }
    if (err instanceof StorageUnavailableError) {
      this.report(operation, access, started, 'unavailable', err)
      return err
    }
    const why = this.inner.unavailable?.(err)
    if (why === undefined) {
      this.report(operation, access, started, 'failed')
      return err
    }
    this.report(operation, access, started, 'unavailable', why)
    return new StorageUnavailableError(this.label ?? 'storage', why, { cause: err })
  }

  private report(
    operation: Operation,
    access: Access,
    started: number,
    result: CallOutcome['result'],
    why?: Unavailability,
  ): void {
    this.observer?.called({ operation, access, ms: performance.now() - started, result, why })
  }
}
