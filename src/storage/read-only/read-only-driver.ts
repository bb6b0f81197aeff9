// A driver that serves another driver's objects and refuses every write: read-only hosting of a
// layout directory Outpost does not own (a USB stick, an NFS mount). Reads pass through; every
// write (put, write, move, delete, prune, link, refer, copy) throws ReadOnlyStorageError before
// the inner driver is touched, so nothing under the hosted directory is ever created, renamed
// or removed, whatever the permissions say (root ignores them).
//
// Two options shape the key space:
// - `mountAt`: the inner root appears under this key prefix ("usb" serves <root>/alpine as
//   usb/alpine); keys outside it are absent, and listing its parents shows the path to it.
// - `state`: keys under a prefix (the engine's own state) go, writable, to another driver, so a
//   hosted store can keep its lock, clean-stop marker and staging elsewhere.
import type { Readable } from 'node:stream'
import type { FileSource } from '../file-source.js'
import {
  ReadOnlyStorageError,
  StorageNotFoundError,
  type ListEntry,
  type ObjectInfo,
  type ReadOptions,
  type StorageDriver,
  type WriteOptions,
} from '../driver.js'

export interface ReadOnlyDriverOptions {
  /** where the bytes are, for messages: the hosted directory */
  source: string
  /** the key prefix the inner driver's root appears under; the root itself when omitted */
  mountAt?: string
  /** keys under `prefix` go, writable, to `driver` (engine state kept elsewhere) */
  state?: { prefix: string; driver: StorageDriver }
  /** the subject of a refused write of `key`, for the message ("repository usb/alpine") */
  describe?: (key: string) => string
  /**
   * keep the inner driver's hard-link counts in stat: a read-only view of a store Outpost owns
   * (gc --dry-run), where they tell which bytes a removal would free
   */
  linkCounts?: boolean
}

export class ReadOnlyDriver implements StorageDriver {
  private readonly mountAt: string
  /** Capability openFile, where the inner driver has it: reading is what this driver does. */
  declare readonly openFile?: (key: string, options?: ReadOptions) => Promise<FileSource>

  constructor(
    private readonly inner: StorageDriver,
    private readonly options: ReadOnlyDriverOptions,
  ) {
    this.mountAt = options.mountAt ?? ''
    const { openFile } = inner
    if (openFile) {
      this.openFile = async (key, options) => {
        const state = this.state(key)
        if (state) {
          if (!state.openFile) throw new Error(`openFile of ${key}: the state driver has no files`)
          return state.openFile(key, options)
        }
        return openFile.call(inner, this.readable(key), options)
      }
    }
  }

  /** `key` in the inner driver, or undefined when the key lies outside the mount. */
  private innerKey(key: string): string | undefined {
    if (this.mountAt === '') return key
    if (key === this.mountAt) return ''
    return key.startsWith(`${this.mountAt}/`) ? key.slice(this.mountAt.length + 1) : undefined
  }

  private state(key: string): StorageDriver | undefined {
    const s = this.options.state
    return s && (key === s.prefix || key.startsWith(`${s.prefix}/`)) ? s.driver : undefined
  }

  private refuse(key: string): ReadOnlyStorageError {
    const subject = this.options.describe?.(key) ?? key
    return new ReadOnlyStorageError(
      key,
      this.options.source,
      `${subject} is hosted read-only from ${this.options.source}`,
    )
  }

  /** The inner key of an object to read; StorageNotFoundError outside the mount. */
  private readable(key: string): string {
    const inner = this.innerKey(key)
    if (inner === undefined || inner === '') throw new StorageNotFoundError(key)
    return inner
  }

  async get(key: string): Promise<Buffer> {
    return this.state(key)?.get(key) ?? this.inner.get(this.readable(key))
  }

  async read(key: string, options?: ReadOptions): Promise<Readable> {
    return this.state(key)?.read(key, options) ?? this.inner.read(this.readable(key), options)
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    const state = this.state(key)
    if (state) return state.stat(key)
    const inner = this.innerKey(key)
    if (inner === undefined || inner === '') return null
    const info = await this.inner.stat(inner)
    // A hard-link count or a reference target says nothing the store may act on here.
    const links = this.options.linkCounts ? { links: info?.links } : {}
    return info && { size: info.size, mtimeMs: info.mtimeMs, identity: info.identity, ...links }
  }

  async *list(prefix: string): AsyncIterable<ListEntry> {
    if (this.state(prefix)) {
      yield* this.state(prefix)!.list(prefix)
      return
    }
    const inner = this.innerKey(prefix)
    if (inner !== undefined) {
      yield* this.inner.list(inner)
      return
    }
    // A parent of the mount point: the next segment on the way to it.
    const parent = prefix === '' ? '' : `${prefix}/`
    if (this.mountAt.startsWith(parent)) {
      yield { name: this.mountAt.slice(parent.length).split('/')[0], isPrefix: true }
    }
  }

  checkWritable(key: string): void {
    if (!this.state(key)) throw this.refuse(key)
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    const state = this.state(key)
    if (!state) throw this.refuse(key)
    await state.put(key, bytes)
  }

  async write(key: string, source: Readable, options?: WriteOptions): Promise<number> {
    const state = this.state(key)
    if (state) return state.write(key, source, options)
    throw this.refuse(key)
  }

  async move(from: string, to: string): Promise<void> {
    const state = this.state(from)
    if (!state || state !== this.state(to)) throw this.refuse(to)
    await state.move(from, to)
  }

  async delete(key: string): Promise<void> {
    const state = this.state(key)
    if (!state) throw this.refuse(key)
    await state.delete(key)
  }

  async deletePrefix(prefix: string): Promise<void> {
    const state = this.state(prefix)
    if (!state) throw this.refuse(prefix)
    await state.deletePrefix(prefix)
  }

  async prune(prefix: string): Promise<void> {
    const state = this.state(prefix)
    if (!state) throw this.refuse(prefix)
    await state.prune(prefix)
  }
}
