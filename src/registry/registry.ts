// The registry API that src/http calls: repositories, blobs, uploads, manifests, tags and
// referrers over one storage driver and the engine index. Backend-agnostic by construction.
import { layoutKeys, listTags, type IndexDocument } from '../layout/index.js'
import type { EngineDb, PullLedgerRecords } from '../engine-db/index.js'
import type { StorageDriver } from '../storage/index.js'
import { BlobStore } from './blob-store.js'
import { isRepository, listRepositories, listUploadHolders, type Pace } from './catalog.js'
import { Digest } from './digest.js'
import { RegistryError } from './errors.js'
import { ManifestStore } from './manifests.js'
import { Referrers } from './referrers.js'
import { listingOrder, RepoCatalog } from './repo-catalog.js'
import { RepoIndexes } from './repo-index.js'
import { RepoSummaries } from './repo-summary.js'
import { UploadSessions } from './uploads.js'
import { SpaceGuard, type FreeSpaceSetting } from './space-guard.js'
import { systemClock, type Clock } from '../util/clock.js'
import { LocalLocks, type Locks } from '../util/locks.js'
import type { Sharing, SweepOptions, SweepResult } from './sharing.js'

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
  /**
   * How identical content is shared across repositories: by link, by reference or by copy,
   * chosen when the store opened (server/storage-owner.ts) from its driver and settings
   */
  sharing: Sharing
  clock?: Clock
  /** uploads are refused before they would leave less free space than this */
  minFreeSpace?: FreeSpaceSetting
  /** repository locks; in-process unless several instances share the store */
  locks?: Locks
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
  /** how this store shares identical content (registry/sharing.ts) */
  sharing: Sharing
}

export class Registry {
  readonly blobs: BlobStore
  readonly uploads: UploadSessions
  readonly manifests: ManifestStore
  readonly referrers: Referrers
  /** what the operator's page lists per repository (src/registry/repo-summary.ts) */
  readonly summaries: RepoSummaries
  private readonly indexes: RepoIndexes
  private readonly catalog: RepoCatalog
  private readonly driver: StorageDriver
  private readonly staging: StorageDriver
  readonly parts: RegistryParts
  private readonly log: LogFn
  private readonly space: SpaceGuard
  readonly sharing: Sharing

  constructor(options: RegistryOptions) {
    const { driver, db, epoch, log, sharing } = options
    const clock = options.clock ?? systemClock
    const locks = options.locks ?? new LocalLocks()
    this.sharing = sharing
    this.driver = driver
    this.staging = options.staging ?? driver
    this.log = log
    // Other instances on the same store create repositories this one never hears of: with
    // shared locks the catalog walks per listing, as before (RepoCatalog `kept`).
    const kept = locks instanceof LocalLocks
    this.catalog = new RepoCatalog((pace) => listRepositories(driver, pace), kept)
    this.indexes = new RepoIndexes(driver, locks, this.catalog)
    // The reserve guards the disk uploads land on first.
    this.space = new SpaceGuard(this.staging, options.minFreeSpace ?? { bytes: 0 })
    this.blobs = new BlobStore({
      driver,
      staging: this.staging,
      db,
      epoch,
      log,
      sharing,
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
    this.summaries = new RepoSummaries({
      db,
      readIndex: (repo) => this.indexes.read(repo),
      loadManifest: (repo, digest) => this.manifests.load(repo, digest),
      loadBlob: (repo, digest) => this.blobs.readVerifiedBytes(repo, digest),
      log,
    })
    this.indexes.onWrite = (repo) => this.summaries.touch(repo)
    this.manifests = new ManifestStore(this.blobs, this.indexes, this.referrers, this.summaries)
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
      sharing,
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

  /**
   * All repository names in lexical order, from a walk of the layout (which the catalog keeps);
   * `pace` runs between its steps (background passes give their budget's acquire).
   */
  repositories(pace?: Pace): Promise<string[]> {
    return this.catalog.walked(pace)
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
   * break a stored image (docs/architecture.md §5.6). Delete the manifest first.
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

  /** Free and total bytes where uploads land (what minFreeSpace guards); undefined: no notion. */
  async freeSpace(): Promise<{ free: number; total: number } | undefined> {
    return this.staging.space?.()
  }

  /** Whether identical content in two repositories is kept once (dedupe on a store that can). */
  get dedupes(): boolean {
    return this.sharing.kind !== 'copy'
  }

  /**
   * Remove content kept once by reference that no repository lists any more (after GC removed
   * the last reference, or a start with dedupe off restored full copies). Nothing to do on a
   * store that shares by hard link: the filesystem frees the bytes with the last name.
   */
  async sweepSharedContent(options: SweepOptions = { minAgeMs: 0 }): Promise<SweepResult> {
    // Listed only when the strategy keeps shared copies: a walk of every repository's blobs.
    const listedBy = async () => {
      const listed = new Map<string, string[]>()
      for (const repo of await this.repositories()) {
        for await (const digest of this.blobDigests(repo)) {
          const name = digest.toString()
          listed.set(name, [...(listed.get(name) ?? []), repo])
        }
      }
      return listed
    }
    return this.sharing.sweep(() => this.repositories(), listedBy, options)
  }

  /**
   * With dedupe off on a store that shared by reference, give every reference of `repo` full
   * bytes of its own again (server-side copies). Returns how many were restored.
   */
  async restoreSharedBlobs(repo: string): Promise<number> {
    return this.sharing.restore(this.blobKeys(repo))
  }

  /** The repository's blobs with their keys, listed as they are asked for. */
  private async *blobKeys(repo: string): AsyncGenerator<{ key: string; digest: Digest }> {
    for await (const digest of this.blobDigests(repo)) {
      yield { key: layoutKeys.blob(repo, digest), digest }
    }
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
