// The storage-driver contract (docs/architecture.md §3): a deliberately small key/value interface that the
// local filesystem and S3 both implement. Keys are relative slash paths; the driver knows nothing
// of OCI, repositories or HTTP. Absence is normal: `stat` answers null, `get`/`read` throw
// StorageNotFoundError, `delete` of a missing key succeeds.
import type { Readable } from 'node:stream'

export interface ObjectInfo {
  size: number
  mtimeMs: number
  /**
   * changes whenever the bytes at the key are replaced, and is the same for two keys that share
   * their bytes (device and inode on a filesystem, the ETag on S3)
   */
  identity?: string
  /** how many keys share these bytes (hard-link count) */
  links?: number
  /** for a reference (see `refer`): the key whose bytes this key reads as */
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
   * Append to the object in place instead of replacing it atomically. Only for staging areas
   * (upload sessions), where a partial object is expected and resumable.
   */
  append?: boolean
}

export interface ListEntry {
  name: string
  /** true when the entry has children (a directory on the filesystem, a common prefix on S3) */
  isPrefix: boolean
}

/** Why a backend cannot be used (see StorageDriver.unavailable). */
export interface Unavailability {
  /** short and specific: "unreachable: ECONNREFUSED", "read-only: EROFS" */
  reason: string
  /** only writes fail (a read-only file system): reads are still served */
  writesOnly?: boolean
}

export interface StorageDriver {
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
  /** Direct children of a prefix, in lexical order. A missing prefix lists nothing. */
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
  /**
   * Capability: `write(…, { append: true })` extends an object in place (upload staging). A
   * driver without it (S3) has its uploads staged on a driver that has it.
   */
  readonly appends?: boolean
  /** Capability: share the bytes of `from` at `to` without copying (hard link). */
  link?(from: string, to: string): Promise<void>
  /**
   * Capability: make `key` read as the bytes of `target` without copying them, for as long as
   * `target` exists (an S3 object whose metadata names the target). Unlike `link`, the bytes live
   * only at `target`: the caller that deletes `target` must know no reference to it remains.
   * `get`, `read` and `stat` of `key` resolve to the target (stat reports it as `target`); a
   * reference whose target is gone is absent. Throws StorageNotFoundError when `target` is.
   */
  refer?(target: string, key: string): Promise<void>
  /**
   * Capability: copy inside the store, without the bytes passing through this process (S3's
   * CopyObject). A reference is copied as the full bytes it reads as.
   */
  copy?(from: string, to: string): Promise<void>
  /** Capability: free and total bytes where this driver stores data (a filesystem's statfs). */
  space?(): Promise<{ free: number; total: number }>
  /**
   * Optional: throw what a write of `key` would throw when this driver refuses writes there
   * (read-only hosting), so work can be refused before it starts. Drivers that take every
   * write leave it out.
   */
  checkWritable?(key: string): void
  /** Capability: where this driver stores data on the local filesystem, when it does. */
  readonly localRoot?: string
  /** Where the data is, for messages and health reports: "s3 (bucket b at https://…)". */
  readonly label?: string
  /**
   * Capability: why `err` means the backend itself cannot be used right now (unreachable,
   * read-only, gone); undefined for any other failure. The health watcher (health.ts) turns
   * such errors into StorageUnavailableError.
   */
  unavailable?(err: unknown): Unavailability | undefined
  /** Capability: one cheap call that fails the way requests would when the backend is down. */
  probe?(signal: AbortSignal): Promise<void>
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

/** A key that is empty, absolute, or would step outside the root. */
export class StorageKeyError extends Error {
  constructor(readonly key: string) {
    super(`invalid storage key: ${JSON.stringify(key)}`)
    this.name = 'StorageKeyError'
  }
}

/**
 * Every key passes here before a driver sees it, so no input can name a path outside the root
 * (docs/architecture.md §5.8). Keys are relative, slash-separated, with no empty, '.' or '..' parts.
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
