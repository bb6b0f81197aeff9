// `maxSize` enforced: when the pull-through ledger passes the limit, the least recently pulled
// image goes — its manifest deleted, then each of its blobs that no other manifest of the
// repository still references — through the registry API, so each step holds the repository's
// lock like any client DELETE. A blob being fetched right now is never removed, nor is content
// the periodic mirror pinned (Registry.pin): it is not the cache's to bound, and is not counted.
import {
  Digest,
  RegistryError,
  type LogFn,
  type Registry,
  type RegistryRouter,
} from '../registry/index.js'
import { parseManifest } from '../registry/manifest-rules.js'
import type { PullLedger } from './pull-ledger.js'

export interface EvictorOptions {
  router: RegistryRouter
  ledger: PullLedger
  log: LogFn
  /** whether a blob is being fetched from the upstream right now */
  fetching: (repo: string, digest: string) => boolean
  /** after an image of `repo` went: forget what was known of its tags */
  evicted: (repo: string) => void
  /** the ledger is kept in the engine index: read it at start, rebuild it where absent */
  persist?: boolean
}

export class Evictor {
  private running = false

  constructor(private readonly options: EvictorOptions) {}

  /** Remove least recently pulled images until the cache fits again (one pass at a time). */
  async evict(): Promise<void> {
    if (this.running) return
    this.running = true
    const { ledger, router, log } = this.options
    try {
      while (ledger.over()) {
        const victim = ledger.victim()
        if (!victim) break
        const registry = router.for(victim.repo)
        if (registry.isPinned(victim.repo, victim.digest)) {
          // Mirrored since it was pulled through: it leaves the cache's accounting, not the store.
          if (victim.kind === 'image') ledger.forgetImage(victim.repo, victim.digest)
          else ledger.forgetBlob(victim.repo, victim.digest)
          continue
        }
        if (victim.kind === 'image') {
          ledger.forgetImage(victim.repo, victim.digest)
          await absentAsUndefined(registry.manifests.delete(victim.repo, victim.digest))
          this.options.evicted(victim.repo)
          for (const part of victim.parts) await this.removeBlob(registry, victim.repo, part)
        } else if (!(await this.removeBlob(registry, victim.repo, victim.digest))) {
          ledger.pin(victim.repo, victim.digest)
        }
        log('pull-through: evicted', { repo: victim.repo, digest: victim.digest })
      }
    } finally {
      this.running = false
    }
  }

  /** Delete a blob unless a stored manifest still references it (or it is being fetched). */
  private async removeBlob(registry: Registry, repo: string, digest: string): Promise<boolean> {
    if (this.options.fetching(repo, digest)) return false
    if (registry.isPinned(repo, digest)) {
      this.options.ledger.forgetBlob(repo, digest)
      return true
    }
    try {
      await registry.deleteBlob(repo, Digest.parse(digest))
    } catch (err) {
      if (!(err instanceof RegistryError && err.code === 'BLOB_UNKNOWN')) return false
    }
    this.options.ledger.forgetBlob(repo, digest)
    return true
  }

  /**
   * At start: what earlier runs pulled through counts against maxSize, most recently used last.
   * A store whose engine index holds the whole ledger is read from it (no blob of the store is
   * listed or read); otherwise (an index deleted or rebuilt, or left by a build that kept no
   * ledger) its covered repositories are walked once, as least recent, and the records rebuilt.
   * Pinned (mirrored) content is never counted: walking, its manifests are not parsed.
   */
  async countCached(covered: (repo: string) => boolean): Promise<void> {
    const { router, ledger } = this.options
    for (const registry of router.registries()) {
      const records = this.options.persist ? registry.pullLedgerRecords() : undefined
      const mine = (repo: string) => router.for(repo) === registry && covered(repo)
      if (records?.complete()) {
        for (const blob of records.blobs()) {
          if (!mine(blob.repo)) continue
          // Mirrored since: it leaves the cache's accounting (and its record goes).
          if (registry.isPinned(blob.repo, blob.digest)) records.deleteBlob(blob.repo, blob.digest)
          else ledger.restoreBlob(blob)
        }
        for (const image of records.images()) {
          if (!mine(image.repo)) continue
          if (registry.isPinned(image.repo, image.digest))
            records.deleteImage(image.repo, image.digest)
          else ledger.restoreImage(image)
        }
        continue
      }
      await records?.clear()
      if (records)
        this.options.log('pull-through: no ledger in the engine index; counting the cache')
      await this.walk(registry, mine)
      records?.markComplete()
    }
    await this.evict()
  }

  /** Unbounded, a run keeps no ledger: one kept by an earlier run would be stale by the next. */
  async dropKeptLedger(): Promise<void> {
    for (const registry of this.options.router.registries()) {
      const records = registry.pullLedgerRecords()
      if (records.complete()) await records.clear()
    }
  }

  /** Count what is stored in `registry`'s repositories that `mine` selects, as least recent. */
  private async walk(registry: Registry, mine: (repo: string) => boolean): Promise<void> {
    const { ledger } = this.options
    for (const repo of await registry.repositories()) {
      if (!mine(repo)) continue
      for await (const digest of registry.blobDigests(repo)) {
        if (registry.isPinned(repo, digest.toString())) continue
        const info = await registry.blobs.stat(repo, digest)
        if (info) ledger.addBlob(repo, digest.toString(), info.size, false)
      }
      for (const tag of await registry.tags(repo)) {
        const top = await absentAsUndefined(registry.manifests.get(repo, tag))
        if (!top || registry.isPinned(repo, top.digest)) continue
        const parsed = parseManifest(top.bytes, top.mediaType)
        for (const child of parsed.manifests) {
          const c = await absentAsUndefined(registry.manifests.get(repo, `${child.digest}`))
          if (!c) continue
          const blobs = parseManifest(c.bytes, c.mediaType).blobs.map((b) => `${b.digest}`)
          ledger.addImage(repo, `${child.digest}`, blobs, false)
        }
        ledger.addImage(
          repo,
          top.digest,
          parsed.blobs.map((b) => `${b.digest}`),
          false,
        )
      }
    }
  }
}

/** A registry lookup whose not-found answer means "not here" rather than a failure. */
export async function absentAsUndefined<T>(lookup: Promise<T>): Promise<T | undefined> {
  try {
    return await lookup
  } catch (err) {
    const absent = ['NAME_UNKNOWN', 'MANIFEST_UNKNOWN', 'BLOB_UNKNOWN']
    if (err instanceof RegistryError && absent.includes(err.code)) return undefined
    throw err
  }
}
