// The registry API that src/http calls: repositories, blobs, uploads, manifests, tags and
// referrers over one storage driver and the engine index. Backend-agnostic by construction.
import { layoutKeys, listTags, type IndexDocument } from '../layout/index.js'
import type { EngineDb, PullLedgerRecords } from '../engine-db/index.js'
import type { StorageDriver } from '../storage/index.js'
import { BlobStore } from './blob-store.js'
import { isRepository, listRepositories, listUploadHolders } from './catalog.js'
import { Digest } from './digest.js'
import { RegistryError } from './errors.js'
import { ManifestStore } from './manifests.js'
import { Referrers } from './referrers.js'
import { listingOrder, RepoCatalog } from './repo-catalog.js'
import { RepoIndexes } from './repo-index.js'
import { UploadSessions } from './uploads.js'
import { SpaceGuard, type FreeSpaceSetting } from './space-guard.js'
import { systemClock, type Clock } from '../util/clock.js'
import { LocalLocks, type Locks } from '../util/locks.js'
import type { ContentIndex } from '../engine-db/content-index.js'
import { SharedContent, type SweepResult } from './shared-content.js'

/** Each index.json document's tags, sorted in listing order. */
const sortedTags = new WeakMap<IndexDocument, string[]>()

export type LogFn = (msg: string, fields?: Record<string, unknown>) => void

export interface RegistryOptions {
  driver: StorageDriver
  /**
   * Where upload sessions stage their bytes: local disk when blobs live remotely (S3 cannot
   * append), the blobs' own driver otherwise.
   */
  staging?: StorageDriver
  db: EngineDb
  /** identifies this run; see BlobStore */
  epoch: string
  log: LogFn
  /** link identical content across repositories (needs the driver's link capability) */
  dedupe: boolean
  clock?: Clock
  /** uploads are refused before they would leave less free space than this */
  minFreeSpace?: FreeSpaceSetting
  /** repository and content locks; in-process unless several instances share the store */
  locks?: Locks
  /** what was verified of content kept once by reference; the engine index's by default */
  contents?: ContentIndex
}

/**
 * What the registry is made of, for the maintenance passes that work on one repository at a time
 * from their own folders (gc/repo-gc.ts, scrub/repo-scrub.ts, dedupe/dedupe-existing.ts): they
 * sit above the OCI model and reach into it, never the other way round (docs/architecture.md).
 */
export interface RegistryParts {
  driver: StorageDriver
  /** where upload sessions stage (an open session keeps its repository) */
  staging: StorageDriver
  db: EngineDb
  clock: Clock
  log: LogFn
  indexes: RepoIndexes
  blobs: BlobStore
  manifests: ManifestStore
  referrers: Referrers
  /** content kept once by reference, when dedupe shares that way on this store */
  sharedDedupe: boolean
}

export class Registry {
  readonly blobs: BlobStore
  readonly uploads: UploadSessions
  readonly manifests: ManifestStore
  readonly referrers: Referrers
  private readonly indexes: RepoIndexes
  private readonly catalog: RepoCatalog
  private readonly driver: StorageDriver
  private readonly staging: StorageDriver
  readonly parts: RegistryParts
  private readonly log: LogFn
  private readonly space: SpaceGuard
  /** content kept once by reference, on a store that can (whatever dedupe says: see sweep) */
  private readonly shared?: SharedContent
  private readonly dedupe: boolean

  constructor(options: RegistryOptions) {
    const { driver, db, epoch, log } = options
    const clock = options.clock ?? systemClock
    const locks = options.locks ?? new LocalLocks()
    const byLink = driver.link !== undefined
    if (!byLink && SharedContent.supported(driver)) {
      const contents = options.contents ?? db.contentIndex()
      this.shared = new SharedContent({ driver, contents, locks, log })
    }
    const dedupe = options.dedupe && (byLink || this.shared !== undefined)
    this.dedupe = dedupe
    this.driver = driver
    this.staging = options.staging ?? driver
    this.log = log
    // Other instances on the same store create repositories this one never hears of: with
    // shared locks the catalog walks per listing, as before (RepoCatalog `kept`).
    const kept = locks instanceof LocalLocks
    this.catalog = new RepoCatalog(() => listRepositories(driver), kept)
    this.indexes = new RepoIndexes(driver, locks, this.catalog)
    // The reserve guards the disk uploads land on first.
    this.space = new SpaceGuard(this.staging, options.minFreeSpace ?? { bytes: 0 })
    this.blobs = new BlobStore({
      driver,
      staging: this.staging,
      db,
      epoch,
      log,
      dedupe,
      shared: dedupe ? this.shared : undefined,
      clock,
    })
    this.uploads = new UploadSessions({
      driver: this.staging,
      db,
      blobs: this.blobs,
      inRepository: (repo, task) => this.inRepository(repo, task),
      space: this.space,
      clock,
    })
    this.referrers = new Referrers({
      db,
      indexes: this.indexes,
      parse: (repo, desc) => this.manifests.parsed(repo, desc),
    })
    this.manifests = new ManifestStore(this.blobs, this.indexes, this.referrers)
    this.parts = {
      driver,
      staging: this.staging,
      db,
      clock,
      log,
      indexes: this.indexes,
      blobs: this.blobs,
      manifests: this.manifests,
      referrers: this.referrers,
      sharedDedupe: this.shared !== undefined && dedupe,
    }
  }

  /** The digests of the blobs a repository stores (manifests included). */
  async *blobDigests(repo: string): AsyncGenerator<Digest> {
    for (const algorithm of ['sha256', 'sha512'] as const) {
      for await (const entry of this.driver.list(layoutKeys.blobAlgorithmDir(repo, algorithm))) {
        if (entry.isPrefix) continue
        try {
          yield Digest.parse(`${algorithm}:${entry.name}`)
        } catch {
          // not a blob name (a stray file written by another tool): not ours to touch
        }
      }
    }
  }

  /** All repository names in lexical order, from a walk of the layout (which the catalog keeps). */
  repositories(): Promise<string[]> {
    return this.catalog.walked()
  }

  /** All repository names in listing order, kept in memory (GET /v2/_catalog). */
  catalogNames(): Promise<readonly string[]> {
    return this.catalog.list()
  }

  /** The repository's tags in listing order. Callers must not modify the result. */
  async tags(repo: string): Promise<readonly string[]> {
    const doc = await this.indexes.read(repo)
    if (!doc) throw new RegistryError('NAME_UNKNOWN', `repository ${repo} not known to registry`)
    // Per index.json state: a cached document is never modified, only replaced on a write, so
    // a list sorted once serves every tags request until the next push (issue 17).
    let tags = sortedTags.get(doc)
    if (!tags) {
      tags = listTags(doc).sort(listingOrder)
      sortedTags.set(doc, tags)
    }
    return tags
  }

  /** Cross-repository mount; false when `from` does not hold the blob (caller opens a session). */
  async mountBlob(repo: string, digest: Digest, from: string): Promise<boolean> {
    if (from === repo) return (await this.blobs.stat(repo, digest)) !== null
    if (!(await isRepository(this.driver, from))) return false
    // Check first: a mount that falls back to a session must not create the repository.
    const info = await this.blobs.stat(from, digest)
    if (!info) return false
    // A mount that copies (no dedupe) writes the whole blob: it answers to the reserve too.
    if (!this.blobs.mountsShare) await this.space.check(info.size)
    return this.inRepository(repo, () =>
      this.blobs.mount(repo, digest, from, this.uploads.stagingKey(repo)),
    )
  }

  /** `task` under the repository's lock, with its layout files in place (see UploadSessions). */
  private inRepository<T>(repo: string, task: () => Promise<T>): Promise<T> {
    // Shared: publishes and mounts only add blobs, so they run beside each other; GC and
    // index.json writers take the lock exclusively and wait for them (and they for those).
    return this.indexes.lockedShared(repo, async () => {
      await this.indexes.ensureLocked(repo)
      return task()
    })
  }

  /**
   * Delete a blob, unless a manifest of the repository still references it: removing it would
   * break a stored image (DESIGN.md invariant 6). Delete the manifest first.
   */
  async deleteBlob(repo: string, digest: Digest): Promise<void> {
    await this.indexes.locked(repo, async () => {
      await this.blobs.require(repo, digest)
      const wanted = digest.toString()
      const doc = await this.indexes.read(repo)
      for (const desc of doc?.manifests ?? []) {
        if (desc.digest === wanted) throw this.referenced(wanted, desc.digest)
        const parsed = await this.manifests.parsed(repo, desc)
        const uses = [...(parsed?.blobs ?? []), ...(parsed?.manifests ?? [])]
        if (uses.some((d) => d.digest.toString() === wanted))
          throw this.referenced(wanted, desc.digest)
      }
      await this.blobs.delete(repo, digest)
    })
  }

  /** Whether this store keeps shared content once by reference (see shared-content.ts). */
  get sharesByReference(): boolean {
    return this.shared !== undefined
  }

  /**
   * Remove content kept once by reference that no repository lists any more (after GC removed
   * the last reference, or a start with dedupe off restored full copies). Nothing to do on a
   * store that shares by hard link: the filesystem frees the bytes with the last name.
   */
  async sweepSharedContent(
    options: { minAgeMs: number; shouldStop?: () => boolean } = { minAgeMs: 0 },
  ): Promise<SweepResult> {
    if (!this.shared) return { removed: 0, bytes: 0 }
    const listedBy = new Map<string, string[]>()
    for (const repo of await this.repositories()) {
      for await (const digest of this.blobDigests(repo)) {
        const name = digest.toString()
        listedBy.set(name, [...(listedBy.get(name) ?? []), repo])
      }
    }
    return this.shared.sweep(() => this.repositories(), listedBy, {
      ...options,
      listedIsLive: this.dedupe,
    })
  }

  /**
   * With dedupe off on a store that shares by reference, give every reference of `repo` full
   * bytes of its own again (server-side copies). Returns how many were restored.
   */
  async restoreSharedBlobs(repo: string): Promise<number> {
    if (!this.shared || this.dedupe) return 0
    let restored = 0
    for await (const digest of this.blobDigests(repo)) {
      if (await this.shared.restore(layoutKeys.blob(repo, digest), digest)) restored++
    }
    return restored
  }

  /**
   * Record that `digest` in `repo` (a manifest or a blob) came from the periodic mirror: the
   * pull-through cache's maxSize eviction leaves it alone. Awaited: committed when it returns.
   */
  async pin(repo: string, digest: string): Promise<void> {
    await this.parts.db.putPin(repo, digest)
  }

  isPinned(repo: string, digest: string): boolean {
    return this.parts.db.isPinned(repo, digest)
  }

  /** The pull-through cache's ledger as kept in this store's engine index. */
  pullLedgerRecords(): PullLedgerRecords {
    return this.parts.db.pullLedgerRecords()
  }

  /** Re-index every repository's referrers; for a fresh or rebuilt engine index. */
  async rebuildIndex(shouldStop: () => boolean = () => false): Promise<number> {
    let done = 0
    for (const repo of await this.repositories()) {
      if (shouldStop()) break
      await this.referrers.ensureCurrent(repo)
      done++
    }
    return done
  }

  /** Drop upload sessions idle for longer than `maxAgeMs`. */
  async expireUploads(maxAgeMs: number): Promise<number> {
    return this.uploads.expire(await listUploadHolders(this.staging), maxAgeMs)
  }

  private referenced(blob: string, manifest: string): RegistryError {
    // distribution-spec "Deleting Blobs": a refused deletion is 400 or 405; 405 says why.
    return new RegistryError(
      'UNSUPPORTED',
      `blob ${blob} is referenced by manifest ${manifest}; delete the manifest first`,
    )
  }
}
