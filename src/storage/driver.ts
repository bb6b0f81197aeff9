// The storage-driver contract (docs/architecture.md §3): a small key/value
// interface that the local filesystem, S3 and the read-only view implement. Keys are relative
// slash paths; a driver knows nothing of OCI, repositories or HTTP. Absence is normal: `stat`
// answers null, `get`/`read` throw StorageNotFoundError, `delete` of a missing key succeeds.
//
// Two parts: the required core (StorageCore), which every driver implements and the registry
// needs to work at all, and optional capabilities (StorageCapabilities), each present only on a
// driver that can do it well. Shared code asks for a capability (`can(driver, 'link')`), never
// for a backend by name. Every driver is opened through openDriver (checked-driver.ts), which
// checks keys, makes errors uniform and times each call, so drivers do none of that themselves.
import type { Readable } from 'node:stream'
import type { FileSource } from './file-source.js'

export interface ObjectInfo {
  size: number
  mtimeMs: number
  /**
   * Sharing: changes whenever the bytes at the key are replaced, and is the same for two keys that
   * share their bytes (device and inode on a filesystem, the ETag on S3). Dedupe and scrub use it
   * to tell which repositories hold the same copy; caches use it to notice a replaced file.
   */
  identity?: string
  /** Sharing (`link`): how many keys share these bytes (hard-link count) */
  links?: number
  /** Sharing (`refer`): for a reference, the key whose bytes this key reads as */
  target?: string
}

export interface ByteRange {
  /** first byte, inclusive */
  start: number
  /** last byte, inclusive */
  end: number
}

export interface ReadOptions {
  range?: ByteRange
  signal?: AbortSignal
}

export interface WriteOptions {
  signal?: AbortSignal
  /**
   * Append to the object in place instead of replacing it atomically (capability `appends`).
   * Only for staging areas (upload sessions), where a partial object is expected and resumable.
   */
  append?: boolean
}

export interface ListEntry {
  name: string
  /** true when the entry has children (a directory on the filesystem, a common prefix on S3) */
  isPrefix: boolean
}

/** Why a backend cannot be used (see StorageCapabilities.unavailable). */
export interface Unavailability {
  /** short and specific: "unreachable: ECONNREFUSED", "read-only: EROFS" */
  reason: string
  /** only writes fail (a read-only file system): reads are still served */
  writesOnly?: boolean
}

/**
 * The required core: what the registry needs of any store. Ten operations on keys, and a label.
 * Keys reach a driver already checked (openDriver), so a driver may trust them.
 */
export interface StorageCore {
  /** Whole small object (manifest, index.json). Throws StorageNotFoundError when absent. */
  get(key: string): Promise<Buffer>
  /** Atomic replace: readers see the old bytes or the new, never a mix. */
  put(key: string, bytes: Uint8Array): Promise<void>
  /** Streamed read; not-found is reported by the promise, before the first byte. */
  read(key: string, options?: ReadOptions): Promise<Readable>
  /**
   * Streamed write; resolves with the number of bytes written. Without `append`, the object
   * appears at `key` only when the promise resolves and nothing is left on error or abort.
   */
  write(key: string, source: Readable, options?: WriteOptions): Promise<number>
  stat(key: string): Promise<ObjectInfo | null>
  /** Direct children of a prefix ('' is the root), in lexical order. A missing prefix lists nothing. */
  list(prefix: string): AsyncIterable<ListEntry>
  /** Rename; the target is replaced. Durable when the driver was opened with commit. */
  move(from: string, to: string): Promise<void>
  /** Idempotent delete of one object. */
  delete(key: string): Promise<void>
  /** Remove a prefix and everything under it (upload staging, repository removal). */
  deletePrefix(prefix: string): Promise<void>
  /**
   * Remove `prefix` and then each parent in turn while it holds nothing, so abandoned staging
   * leaves no empty directories. A no-op where prefixes are not real (S3).
   */
  prune(prefix: string): Promise<void>
  /** Where the data is, for messages and health reports: "s3 (bucket b at https://…)". */
  readonly label?: string
}

/**
 * What some drivers can do and others cannot, each for a reason of its own. A capability is
 * present (a method, or a flag set to true) or absent; absence always has a fallback that works,
 * only slower or with more bytes stored.
 */
export interface StorageCapabilities {
  // Sharing. Every repository is a complete OCI layout of its own (docs/architecture.md §4),
  // so a blob pushed to ten repositories is ten keys; dedupe makes them one copy. Which
  // of these a driver has decides the store's sharing strategy: link where the filesystem has
  // hard links, refer (plus copy) on S3, plain copies where neither exists.

  /** Share the bytes of `from` at `to` without copying (a hard link); the target is replaced. */
  link(from: string, to: string): Promise<void>
  /**
   * Make `key` read as the bytes of `target` without copying them, for as long as `target`
   * exists (an S3 object whose metadata names the target). Unlike `link`, the bytes live only at
   * `target`: the caller that deletes `target` must know no reference to it remains. `get`,
   * `read` and `stat` of `key` resolve to the target (stat reports it as `target`); a reference
   * whose target is gone is absent. Throws StorageNotFoundError when `target` is.
   */
  refer(target: string, key: string): Promise<void>
  /**
   * Copy inside the store, without the bytes passing through this process (S3's CopyObject), to
   * make the shared copy `refer` points at. A reference is copied as the full bytes it reads as.
   */
  copy(from: string, to: string): Promise<void>

  // Staging. Upload sessions (distribution-spec "Pushing a blob in chunks") grow by PATCH.

  /**
   * `write(…, { append: true })` extends an object in place. A driver without it (S3) has its
   * upload sessions staged on a driver that has it (the local root) and moved in at finalize.
   */
  readonly appends: boolean

  // Space and readiness. A full disk or a read-only medium should refuse work before it starts,
  // not halfway through a 2 GB upload; and /readyz should say what requests would meet.

  /** Free and total bytes where this driver stores data (a filesystem's statfs): the reserve. */
  space(): Promise<{ free: number; total: number }>
  /**
   * Throw what a write of `key` would throw when this driver refuses writes there (read-only
   * hosting), so an upload is refused before it starts. Drivers that take every write leave it out.
   */
  checkWritable(key: string): void
  /**
   * Why `err` means the backend itself cannot be used right now (unreachable, read-only, gone);
   * undefined for any other failure. openDriver turns such errors into StorageUnavailableError
   * (503) and the health watcher (health.ts) into an unready backend.
   */
  unavailable(err: unknown): Unavailability | undefined
  /** One cheap call that fails the way requests would when the backend is down (readiness). */
  probe(signal: AbortSignal): Promise<void>

  // Local files. Pulls are the hot path on an edge box: a blob that is a local file is sent from
  // its file descriptor with reused buffers (src/http/send-file.ts), ~2x less CPU than a stream.

  /** The directory where this driver stores data, when it is on the local filesystem. */
  readonly localRoot: string
  /**
   * Open the object as a local file: the handle and the byte range to read, for a consumer that
   * reads the file itself. Throws StorageNotFoundError when absent. A driver with `openFile`
   * returns from `read` the stream `fileStream` (file-source.ts) makes of it, so the file travels
   * with the stream through any layer that passes streams along, and `fileSourceOf(stream)` at
   * the far end (the HTTP layer) takes it over; every other consumer just reads the stream.
   */
  openFile(key: string, options?: ReadOptions): Promise<FileSource>
}

/** A storage driver: the whole core, and whichever capabilities it has. */
export type StorageDriver = StorageCore & Partial<StorageCapabilities>

export type Capability = keyof StorageCapabilities

/** `driver` with capability `K` known to be present. */
export type DriverWith<K extends Capability> = StorageDriver & Pick<StorageCapabilities, K>

/** Whether `driver` has capability `capability` (a method, or a flag set to true). */
export function can<K extends Capability>(
  driver: StorageDriver,
  capability: K,
): driver is DriverWith<K> {
  const member = driver[capability]
  return member !== undefined && member !== false
}

const CAPABILITIES: readonly Capability[] = [
  'link',
  'refer',
  'copy',
  'appends',
  'space',
  'checkWritable',
  'unavailable',
  'probe',
  'localRoot',
  'openFile',
]

/** The capabilities `driver` has, in the contract's order: for reports and tests. */
export function capabilitiesOf(driver: StorageDriver): Capability[] {
  return CAPABILITIES.filter((c) => can(driver, c))
}

export class StorageNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`storage object not found: ${key}`)
    this.name = 'StorageNotFoundError'
  }
}

/** The store is out of space: surfaces to clients as a retryable server error. */
export class StorageFullError extends Error {
  constructor(
    readonly key: string,
    options?: { cause?: unknown },
  ) {
    super(`storage full while writing ${key}`, options)
    this.name = 'StorageFullError'
  }
}

/**
 * The backend cannot be used right now (an S3 endpoint unreachable, a local root read-only or
 * gone): a retryable server condition, not a fault of the request or of the data.
 */
export class StorageUnavailableError extends Error {
  readonly reason: string
  readonly writesOnly: boolean

  constructor(
    /** the backend's label, e.g. "s3 (bucket b at http://127.0.0.1:9000)" */
    readonly backend: string,
    why: Unavailability,
    options?: { cause?: unknown },
  ) {
    super(`storage backend ${backend} ${why.reason}`, options)
    this.name = 'StorageUnavailableError'
    this.reason = why.reason
    this.writesOnly = why.writesOnly ?? false
  }
}

/** A write refused because the storage is hosted read-only. */
export class ReadOnlyStorageError extends Error {
  constructor(
    readonly key: string,
    /** the hosted directory (or other source) that is never written */
    readonly source: string,
    message: string,
  ) {
    super(message)
    this.name = 'ReadOnlyStorageError'
  }
}

/** A key that is empty, absolute, or would step outside the root. */
export class StorageKeyError extends Error {
  constructor(readonly key: string) {
    super(`invalid storage key: ${JSON.stringify(key)}`)
    this.name = 'StorageKeyError'
  }
}

/**
 * Every key passes here before a driver sees it (openDriver, checked-driver.ts, calls it for
 * every key of every call), so no input can name a path outside the root (docs/architecture.md
 * §5.8). Keys are relative, slash-separated, with no empty, '.' or '..' parts.
 */
export function checkKey(key: string): string {
  if (key.length === 0 || key.length > 4096 || key.includes('\0') || key.includes('\\')) {
    throw new StorageKeyError(key)
  }
  for (const part of key.split('/')) {
    if (part === '' || part === '.' || part === '..') throw new StorageKeyError(key)
  }
  return key
}
