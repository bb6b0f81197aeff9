// The in-memory driver: the whole storage contract (driver.ts) held in this process's memory,
// for fast tests and for embedding Outpost where the content need not outlive the process.
//
// It answers as the fs driver does: absence is StorageNotFoundError from `get`/`read` (before
// any byte) and null from `stat`; `write` publishes only when it resolves and leaves nothing
// on error or abort, while an append extends the object as its bytes arrive (a failed append
// keeps what arrived, as a file would); `link` shares one object between keys (one identity,
// a link count); a key cannot be both an object and a prefix. Like S3 it also offers `refer`
// and `copy`, and its prefixes exist only while something lives under them (`prune` has
// nothing to remove).
//
// Memory is not bounded: every object is held whole on the heap for as long as a key names it,
// and `capacity` is an accounting limit (what `space` reports and where writes start failing
// with StorageFullError, so disk-full paths can be tested), not a cap on what the process
// allocates. Do not serve large images from it.
import { addAbortSignal, Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import {
  checkKey,
  StorageFullError,
  StorageNotFoundError,
  type ListEntry,
  type ObjectInfo,
  type ReadOptions,
  type StorageDriver,
  type WriteOptions,
} from '../driver.js'

export interface MemoryDriverOptions {
  /** bytes the store may hold, as `space` reports them; default 1 PiB (in effect unlimited) */
  capacity?: number
  /** for messages and health reports; default "memory" */
  label?: string
}

const DEFAULT_CAPACITY = 2 ** 50
/** Reads are served in pieces of this size, so backpressure and aborts act mid-object. */
const READ_CHUNK = 64 * 1024

/** The bytes of one object, shared by every key linked to it (an inode). */
class Content {
  /** appended pieces not yet joined; joined lazily so appends stay linear */
  private parts: Buffer[]
  size: number
  /** how many keys name this content (the hard-link count) */
  links = 0

  constructor(
    readonly id: number,
    bytes: Buffer,
    public mtimeMs: number,
  ) {
    this.parts = [bytes]
    this.size = bytes.length
  }

  /** The bytes now: a buffer later appends never change (they join into a new one). */
  bytes(): Buffer {
    if (this.parts.length !== 1) this.parts = [Buffer.concat(this.parts, this.size)]
    return this.parts[0]
  }

  append(chunk: Buffer, now: number): void {
    this.parts.push(chunk)
    this.size += chunk.length
    this.mtimeMs = now
  }
}

type Slot =
  | { kind: 'object'; content: Content }
  /** `target` names content, never another reference (refer resolves it) */
  | { kind: 'reference'; target: string; mtimeMs: number }

function parentOf(key: string): string {
  const cut = key.lastIndexOf('/')
  return cut < 0 ? '' : key.slice(0, cut)
}

function* pieces(bytes: Buffer): Generator<Buffer> {
  for (let at = 0; at < bytes.length; at += READ_CHUNK) {
    yield bytes.subarray(at, at + READ_CHUNK)
  }
}

export class MemoryDriver implements StorageDriver {
  readonly appends = true
  readonly label: string
  private readonly capacity: number
  private readonly slots = new Map<string, Slot>()
  /** the names directly under each prefix that holds anything ('' is the root) */
  private readonly children = new Map<string, Set<string>>()
  /** bytes held, in-flight writes included (a file being written takes space too) */
  private used = 0
  private nextId = 1

  constructor(options: MemoryDriverOptions = {}) {
    this.capacity = options.capacity ?? DEFAULT_CAPACITY
    this.label = options.label ?? 'memory'
  }

  async get(key: string): Promise<Buffer> {
    return Buffer.from(this.found(key).bytes())
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    checkKey(key)
    this.checkPlace(key)
    this.allocate(key, bytes.length)
    this.publish(key, { kind: 'object', content: this.content(Buffer.from(bytes)) })
  }

  async read(key: string, options: ReadOptions = {}): Promise<Readable> {
    const bytes = this.found(key).bytes()
    const { range, signal } = options
    // As a file read stream does: a range past the end stops at the end.
    const view = range ? bytes.subarray(range.start, range.end + 1) : bytes
    const stream = Readable.from(pieces(view), { objectMode: false })
    return signal ? addAbortSignal(signal, stream) : stream
  }

  async write(key: string, source: Readable, options: WriteOptions = {}): Promise<number> {
    checkKey(key)
    if (options.append) return this.append(key, source, options.signal)
    this.checkPlace(key)
    const chunks: Buffer[] = []
    let size = 0
    const sink = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        try {
          this.allocate(key, chunk.length)
        } catch (err) {
          return done(err as Error)
        }
        chunks.push(chunk)
        size += chunk.length
        done()
      },
    })
    try {
      await pipeline(source, sink, { signal: options.signal })
      this.checkPlace(key) // again: the tree may have changed while the bytes came in
    } catch (err) {
      this.used -= size
      throw err
    }
    this.publish(key, { kind: 'object', content: this.content(Buffer.concat(chunks, size)) })
    return size
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    checkKey(key)
    const slot = this.slots.get(key)
    const content = this.resolve(key)
    if (!slot || !content) return null
    const identity = `memory:${content.id}`
    if (slot.kind === 'reference') {
      return { size: content.size, mtimeMs: slot.mtimeMs, identity, target: slot.target }
    }
    return { size: content.size, mtimeMs: content.mtimeMs, identity, links: content.links }
  }

  async *list(prefix: string): AsyncIterable<ListEntry> {
    if (prefix !== '') checkKey(prefix)
    const names = [...(this.children.get(prefix) ?? [])]
    names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    const base = prefix === '' ? '' : `${prefix}/`
    for (const name of names) yield { name, isPrefix: this.children.has(base + name) }
  }

  async move(from: string, to: string): Promise<void> {
    checkKey(from)
    checkKey(to)
    const slot = this.slots.get(from)
    if (!slot) throw new StorageNotFoundError(from)
    if (from === to) return
    this.checkPlace(to)
    this.publish(to, slot)
    this.remove(from)
  }

  async delete(key: string): Promise<void> {
    this.remove(checkKey(key))
  }

  async deletePrefix(prefix: string): Promise<void> {
    const base = `${checkKey(prefix)}/`
    this.remove(prefix)
    for (const key of [...this.slots.keys()]) if (key.startsWith(base)) this.remove(key)
  }

  /** Prefixes vanish with their last object: there is never an empty one to remove. */
  async prune(prefix: string): Promise<void> {
    checkKey(prefix)
  }

  async space(): Promise<{ free: number; total: number }> {
    return { free: Math.max(0, this.capacity - this.used), total: this.capacity }
  }

  /** `to` names the same content as `from` (what `from` reads as, for a reference). */
  async link(from: string, to: string): Promise<void> {
    checkKey(to)
    const content = this.found(from)
    this.checkPlace(to)
    this.publish(to, { kind: 'object', content })
  }

  async refer(target: string, key: string): Promise<void> {
    checkKey(key)
    checkKey(target)
    const slot = this.slots.get(target)
    if (!slot || !this.resolve(target)) throw new StorageNotFoundError(target)
    const resolved = slot.kind === 'reference' ? slot.target : target
    // A reference in place of its own content would leave it reading as nothing.
    if (resolved === key) throw new Error(`storage key ${key} cannot refer to itself`)
    this.checkPlace(key)
    this.publish(key, { kind: 'reference', target: resolved, mtimeMs: now() })
  }

  async copy(from: string, to: string): Promise<void> {
    checkKey(to)
    const bytes = this.found(from).bytes()
    this.checkPlace(to)
    this.allocate(to, bytes.length)
    // Buffers are never changed once joined, so the copy may share this one.
    this.publish(to, { kind: 'object', content: this.content(bytes) })
  }

  /** Bytes held, for tests that check nothing is kept after a failure. */
  get usedBytes(): number {
    return this.used
  }

  private append(key: string, source: Readable, signal?: AbortSignal): Promise<number> {
    let slot = this.slots.get(key)
    if (slot?.kind === 'reference') {
      throw new Error(`storage key ${key} is a reference: only plain objects take appends`)
    }
    if (!slot) {
      // As open(2) with O_APPEND|O_CREAT: the object exists from the start, empty.
      this.checkPlace(key)
      slot = { kind: 'object', content: this.content(Buffer.alloc(0)) }
      this.publish(key, slot)
    }
    const content = slot.content
    let written = 0
    const sink = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        try {
          // Content no key names any more (replaced meanwhile) was already given back.
          if (content.links > 0) this.allocate(key, chunk.length)
        } catch (err) {
          return done(err as Error)
        }
        content.append(chunk, now())
        written += chunk.length
        done()
      },
    })
    return pipeline(source, sink, { signal }).then(() => written)
  }

  /** The content `key` reads as; StorageNotFoundError when none. */
  private found(key: string): Content {
    const content = this.resolve(checkKey(key))
    if (!content) throw new StorageNotFoundError(key)
    return content
  }

  private resolve(key: string): Content | undefined {
    const slot = this.slots.get(key)
    if (slot?.kind !== 'reference') return slot?.content
    const target = this.slots.get(slot.target)
    return target?.kind === 'object' ? target.content : undefined
  }

  private content(bytes: Buffer): Content {
    return new Content(this.nextId++, bytes, now())
  }

  private allocate(key: string, bytes: number): void {
    if (this.used + bytes > this.capacity) throw new StorageFullError(key)
    this.used += bytes
  }

  /**
   * A key cannot name an object and a prefix at once (a file and a directory), so what would
   * fail on the filesystem fails here too instead of passing only in fast tests.
   */
  private checkPlace(key: string): void {
    if (this.children.has(key)) {
      throw new Error(`storage key ${key} is a prefix: it cannot also be an object`)
    }
    for (let p = parentOf(key); p !== ''; p = parentOf(p)) {
      if (this.slots.has(p))
        throw new Error(`storage key ${p} is an object: ${key} cannot be under it`)
    }
  }

  /** Put `slot` at `key`, replacing (and releasing) what was there. */
  private publish(key: string, slot: Slot): void {
    const old = this.slots.get(key)
    if (slot.kind === 'object') slot.content.links++
    this.slots.set(key, slot)
    if (old) this.release(old)
    else this.index(key)
  }

  private remove(key: string): void {
    const slot = this.slots.get(key)
    if (!slot) return
    this.slots.delete(key)
    this.unindex(key)
    this.release(slot)
  }

  private release(slot: Slot): void {
    if (slot.kind !== 'object') return
    if (--slot.content.links === 0) this.used -= slot.content.size
  }

  /** Record `key` under its parent, and each parent under its own, up to the first known one. */
  private index(key: string): void {
    for (let child = key; ; child = parentOf(child)) {
      const parent = parentOf(child)
      const name = child.slice(parent === '' ? 0 : parent.length + 1)
      const names = this.children.get(parent)
      if (names) {
        names.add(name)
        return
      }
      this.children.set(parent, new Set([name]))
      if (parent === '') return
    }
  }

  /** Forget `key`, and each parent left with nothing under it. */
  private unindex(key: string): void {
    for (let child = key; ; child = parentOf(child)) {
      const parent = parentOf(child)
      const names = this.children.get(parent)
      names?.delete(child.slice(parent === '' ? 0 : parent.length + 1))
      if (names && names.size > 0) return
      this.children.delete(parent)
      if (parent === '') return
    }
  }
}

/** Milliseconds since the epoch with a fraction, as a file's mtimeMs has. */
function now(): number {
  return performance.timeOrigin + performance.now()
}
