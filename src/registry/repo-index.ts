// Each repository's index.json: read through a small cache that a stat keeps honest (another
// tool may rewrite a layout we serve), and changed only under the repository's lock
// (docs/architecture.md §5.5), by an atomic put.
import {
  emptyIndex,
  layoutKeys,
  OCI_LAYOUT_CONTENT,
  parseIndex,
  serializeIndex,
  type IndexDocument,
} from '../layout/index.js'
import type { ObjectInfo, StorageDriver } from '../storage/index.js'
import { StorageNotFoundError } from '../storage/index.js'
import { LocalLocks, type Locks } from '../util/locks.js'
import type { RepoCatalog } from './repo-catalog.js'

interface CachedIndex {
  size: number
  mtimeMs: number
  identity?: string
  doc: IndexDocument
}

/** Enough repositories for an edge box; the largest thing read whole is one index.json. */
const CACHE_LIMIT = 256

export class RepoIndexes {
  private readonly cache = new Map<string, CachedIndex>()
  /** Per repository: how many exclusive sections that may remove blobs have ended. */
  private readonly removals = new Map<string, number>()
  /**
   * Repositories whose layout files this process wrote or saw, so `ensureLocked` (on every blob
   * publish) needs no stat. Only with in-process locks: then every removal this process could
   * miss is GC's (`removed`) or a foreign tool's, which the next read's stat notices. With other
   * instances on the store, one of them may remove a repository unseen: always stat.
   */
  private readonly present = new Set<string>()

  /** called after every index.json write (the operator page's records follow it) */
  onWrite?: (repo: string) => void

  constructor(
    private readonly driver: StorageDriver,
    private readonly locks: Locks,
    /** told of every repository this creates or removes (the `_catalog` list) */
    private readonly catalog?: RepoCatalog,
  ) {}

  /** A repository's layout was removed (GC of an empty repository): it leaves the catalog. */
  removed(repo: string): void {
    this.cache.delete(repo)
    this.present.delete(repo)
    this.catalog?.removed(repo)
  }

  /**
   * Run `task` holding the repository's lock. `removes: false` promises the task takes nothing
   * away (a tag update), so it does not invalidate a `removalMark` taken before it.
   */
  locked<T>(repo: string, task: () => Promise<T>, removes = true): Promise<T> {
    if (!removes) return this.locks.run(repo, task)
    return this.locks.run(repo, async () => {
      try {
        return await task()
      } finally {
        // Counted at the end: a check made while a removal was still running is stale.
        this.removals.set(repo, (this.removals.get(repo) ?? 0) + 1)
      }
    })
  }

  /**
   * A mark of the repository's removals so far, for `keptSince`; undefined when removals may
   * happen where this process cannot count them (other instances, locks not in this process).
   */
  removalMark(repo: string): number | undefined {
    return this.locks instanceof LocalLocks ? (this.removals.get(repo) ?? 0) : undefined
  }

  /**
   * Whether no section that may remove blobs has ended since `mark`: what was found present
   * after taking the mark is still there (checks need not be repeated under the lock).
   */
  keptSince(repo: string, mark: number | undefined): boolean {
    return mark !== undefined && (this.removals.get(repo) ?? 0) === mark
  }

  /**
   * Run `task` holding the repository's lock shared with other such tasks: for work that only
   * adds blobs, which must exclude GC and index.json writers but not each other.
   */
  lockedShared<T>(repo: string, task: () => Promise<T>): Promise<T> {
    return this.locks.runShared ? this.locks.runShared(repo, task) : this.locks.run(repo, task)
  }

  /** The repository's index, or null when it has none. Callers must not modify the result. */
  async read(repo: string): Promise<IndexDocument | null> {
    const key = layoutKeys.index(repo)
    const info = await this.driver.stat(key)
    if (!info) {
      this.cache.delete(repo)
      this.present.delete(repo)
      return null
    }
    const cached = this.cache.get(repo)
    if (cached && sameFile(cached, info)) return cached.doc
    return this.load(repo, info)
  }

  /** Stat of index.json, for consumers that remember which state they derived data from. */
  stat(repo: string): Promise<ObjectInfo | null> {
    return this.driver.stat(layoutKeys.index(repo))
  }

  /**
   * Read-modify-write under the repository's lock. `change` edits a private copy and returns
   * whether it changed anything; only then is index.json written. The copy's `manifests` array
   * is its own, its descriptors are not: replace a descriptor, never modify one.
   */
  async update<T>(
    repo: string,
    change: (doc: IndexDocument) => { changed: boolean; result: T },
  ): Promise<T> {
    return this.locked(repo, () => this.updateLocked(repo, change))
  }

  /** As `update`, for a caller that already holds the repository's lock. */
  async updateLocked<T>(
    repo: string,
    change: (doc: IndexDocument) => { changed: boolean; result: T },
  ): Promise<T> {
    const wasPresent = this.present.has(repo)
    const current = await this.read(repo)
    // index.json went missing behind `present` (a foreign tool removed the layout): put the
    // oci-layout file back too, as the stat in `ensureLocked` would have.
    if (!current && wasPresent) await this.ensureLocked(repo)
    // A copy with its own manifests array; the descriptors are shared with the cached document,
    // which the index-json helpers never modify in place (they replace entries). A deep copy
    // here cost O(entries) per tag push, the largest item of a push into a big repository.
    const doc = current ? { ...current, manifests: [...current.manifests] } : emptyIndex()
    const { changed, result } = change(doc)
    if (changed || !current) await this.write(repo, doc)
    return result
  }

  /** Create oci-layout and an empty index.json for a new repository (under its lock). */
  async ensure(repo: string): Promise<void> {
    await this.locked(repo, () => this.ensureLocked(repo))
  }

  /** As `ensure`, for a caller that already holds the repository's lock. */
  async ensureLocked(repo: string): Promise<void> {
    // index.json is written after oci-layout, so its presence vouches for both: one stat on the
    // path every blob publish takes, none once this process has seen it (`present`).
    if (this.present.has(repo)) return
    if (await this.driver.stat(layoutKeys.index(repo))) return this.sawPresent(repo)
    if (!(await this.driver.stat(layoutKeys.ociLayout(repo)))) {
      await this.driver.put(layoutKeys.ociLayout(repo), Buffer.from(OCI_LAYOUT_CONTENT))
      this.catalog?.added(repo)
    }
    if (!(await this.driver.stat(layoutKeys.index(repo)))) {
      await this.write(repo, emptyIndex())
    }
    this.sawPresent(repo)
  }

  private sawPresent(repo: string): void {
    if (this.locks instanceof LocalLocks) this.present.add(repo)
  }

  private async write(repo: string, doc: IndexDocument): Promise<void> {
    const bytes = serializeIndex(doc)
    this.cache.delete(repo)
    await this.driver.put(layoutKeys.index(repo), bytes)
    this.catalog?.added(repo) // a binary search when the repository is listed already
    // Keep what was written, so the next update (a push tags image after image) needs a stat
    // and no read and parse. Only when the stat shows these bytes: no other writer came between.
    const info = await this.driver.stat(layoutKeys.index(repo))
    if (info?.size === bytes.length) this.remember(repo, info, doc)
    this.onWrite?.(repo)
  }

  private remember(repo: string, info: ObjectInfo, doc: IndexDocument): void {
    this.cache.delete(repo)
    if (this.cache.size >= CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value!)
    this.cache.set(repo, { size: info.size, mtimeMs: info.mtimeMs, identity: info.identity, doc })
  }

  private async load(repo: string, info: ObjectInfo): Promise<IndexDocument | null> {
    let bytes: Buffer
    try {
      bytes = await this.driver.get(layoutKeys.index(repo))
    } catch (err) {
      if (err instanceof StorageNotFoundError) return null
      throw err
    }
    const doc = parseIndex(bytes, layoutKeys.index(repo))
    // Only cache when the bytes read are the ones stat described (no write raced the read).
    if (bytes.length === info.size) this.remember(repo, info, doc)
    return doc
  }
}

/**
 * Whether a stat describes the state a cache entry was read in. The identity decides where the
 * driver gives one: S3's Last-Modified has whole seconds, so another instance's rewrite of the
 * same size within that second would otherwise go unnoticed.
 */
export function sameFile(a: ObjectInfo, b: ObjectInfo): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.identity === b.identity
}
