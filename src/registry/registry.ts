// The registry API that src/http calls: repositories, blobs, uploads, manifests, tags and
// referrers over one storage driver and the engine index. Backend-agnostic by construction.
import { listTags } from '../fs-layout/index.js'
import type { IndexDb } from '../index-db/index.js'
import type { StorageDriver } from '../storage/index.js'
import { BlobStore } from './blob-store.js'
import { isRepository, listRepositories, listUploadHolders } from './catalog.js'
import type { Digest } from './digest.js'
import { RegistryError } from './errors.js'
import { ManifestStore } from './manifests.js'
import { Referrers } from './referrers.js'
import { RepoIndexes } from './repo-index.js'
import { UploadSessions } from './uploads.js'

export type LogFn = (msg: string, fields?: Record<string, unknown>) => void

export interface RegistryOptions {
  driver: StorageDriver
  db: IndexDb
  /** identifies this run; see BlobStore */
  epoch: string
  log: LogFn
}

export class Registry {
  readonly blobs: BlobStore
  readonly uploads: UploadSessions
  readonly manifests: ManifestStore
  readonly referrers: Referrers
  private readonly indexes: RepoIndexes
  private readonly driver: StorageDriver

  constructor(options: RegistryOptions) {
    const { driver, db, epoch, log } = options
    this.driver = driver
    this.indexes = new RepoIndexes(driver)
    this.blobs = new BlobStore({ driver, db, epoch, log })
    this.uploads = new UploadSessions({
      driver,
      db,
      blobs: this.blobs,
      ensureRepository: (repo) => this.indexes.ensure(repo),
    })
    this.referrers = new Referrers({
      db,
      indexes: this.indexes,
      parse: (repo, desc) => this.manifests.parsed(repo, desc),
    })
    this.manifests = new ManifestStore(this.blobs, this.indexes, this.referrers)
  }

  repositories(): Promise<string[]> {
    return listRepositories(this.driver)
  }

  async tags(repo: string): Promise<string[]> {
    const doc = await this.indexes.read(repo)
    if (!doc) throw new RegistryError('NAME_UNKNOWN', `repository ${repo} not known to registry`)
    return listTags(doc)
  }

  /** Cross-repository mount; false when `from` does not hold the blob (caller opens a session). */
  async mountBlob(repo: string, digest: Digest, from: string): Promise<boolean> {
    if (from === repo) return (await this.blobs.stat(repo, digest)) !== null
    if (!(await isRepository(this.driver, from))) return false
    // Check first: a mount that falls back to a session must not create the repository.
    if (!(await this.blobs.stat(from, digest))) return false
    await this.indexes.ensure(repo)
    return this.blobs.mount(repo, digest, from, this.uploads.stagingKey(repo))
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
    return this.uploads.expire(await listUploadHolders(this.driver), maxAgeMs)
  }

  private referenced(blob: string, manifest: string): RegistryError {
    // distribution-spec "Deleting Blobs": a refused deletion is 400 or 405; 405 says why.
    return new RegistryError(
      'UNSUPPORTED',
      `blob ${blob} is referenced by manifest ${manifest}; delete the manifest first`,
    )
  }
}
