// Keeps the operator page's per-repository records (src/engine-db/repo-summary-records.ts)
// current: every index.json write (push, delete, mirror, import, pull-through, GC) schedules a
// refresh of that repository, run after the write and outside its lock. A refresh reads only
// manifests and configs it has not summarised before (the record keeps the rest by digest), but
// it rewrites the repository's whole record, so it costs O(images in the repository): the first
// write after a quiet spell is summarised at once, and while pushes to one repository keep coming
// (concurrent or one after another) refreshes are paced (REFRESH_GAP_MS apart, and at most a
// tenth of the time), or 5,000 tag pushes would cost a quadratic number of record rewrites.
import { absentChildren, REF_NAME, type Descriptor } from '../layout/index.js'
import type {
  EngineDb,
  ImageSummary,
  Origin,
  RepoSummaryRecord,
  RepoSummaryRecords,
} from '../engine-db/index.js'
import { Digest } from './digest.js'

export interface RepoSummaryDeps {
  db: EngineDb
  readIndex: (repo: string) => Promise<{ manifests: Descriptor[] } | null>
  /** a stored manifest's bytes (checked against the digest), or null */
  loadManifest: (repo: string, digest: string) => Promise<Buffer | null>
  /** a stored blob's bytes (checked against the digest), or null */
  loadBlob: (repo: string, digest: Digest) => Promise<Buffer | null>
  log: (msg: string, fields?: Record<string, unknown>) => void
}

interface ManifestJson {
  mediaType?: string
  config?: { digest?: string; size?: number }
  layers?: Array<{ digest?: string; size?: number }>
  manifests?: Array<{ digest?: string; size?: number; platform?: Platform }>
  subject?: { digest?: string }
}

interface Platform {
  os?: string
  architecture?: string
  variant?: string
}

/** Least time between two refreshes of one repository while writes to it keep coming. */
export const REFRESH_GAP_MS = 250

export class RepoSummaries {
  readonly records: RepoSummaryRecords
  private readonly running = new Map<string, Promise<void>>()
  private readonly dirty = new Set<string>()
  /** origins noted by the writer of a manifest, taken by the next refresh of its repository */
  private readonly origins = new Map<string, Origin>()
  /** pauses between paced refreshes, woken early by settled() */
  private readonly waiting = new Set<() => void>()
  /** settled() calls in progress: while any waits, pauses are skipped */
  private hurry = 0

  constructor(private readonly deps: RepoSummaryDeps) {
    this.records = deps.db.repoSummaryRecords()
  }

  /** Where the manifest `digest` about to be stored in `repo` came from (before its write). */
  noteOrigin(repo: string, digest: string, origin: Origin): void {
    this.origins.set(`${repo}@${digest}`, origin)
  }

  /** index.json of `repo` changed: refresh its record soon (not awaited by the writer). */
  touch(repo: string): void {
    // A read-only view (gc --dry-run) never writes the engine index, so keeps no records.
    if (!this.deps.db.writable) return
    if (this.running.has(repo)) {
      this.dirty.add(repo)
      return
    }
    const run = (async () => {
      for (;;) {
        this.dirty.delete(repo)
        const began = performance.now()
        await this.refresh(repo).catch((err: unknown) =>
          this.deps.log('repository summary failed', { repo, error: String(err) }),
        )
        // Writes that come during the refresh or the gap after it mark the repository dirty and
        // are covered by one refresh after the gap; a repository written once is done now.
        const took = performance.now() - began
        await this.pause(Math.max(REFRESH_GAP_MS, 9 * took))
        if (!this.dirty.has(repo)) return
      }
    })()
    this.running.set(repo, run)
    void run.finally(() => this.running.delete(repo))
  }

  /** Resolves once every refresh scheduled so far is done and committed (before the index closes). */
  async settled(): Promise<void> {
    this.hurry++
    try {
      for (const wake of this.waiting) wake()
      while (this.running.size > 0) await Promise.all([...this.running.values()])
      await this.deps.db.flushed()
    } finally {
      this.hurry--
    }
  }

  /** Wait `ms`, or less when settled() is waiting for the pending refreshes. */
  private pause(ms: number): Promise<void> {
    if (this.hurry > 0) return Promise.resolve()
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer)
        this.waiting.delete(wake)
        resolve()
      }
      const timer = setTimeout(wake, ms)
      timer.unref()
      this.waiting.add(wake)
    })
  }

  /**
   * Summarise every repository `list` names (after a start with no records), then mark the
   * records complete. Returns how many were summarised; stops early, unmarked, on shouldStop.
   */
  async backfill(list: () => Promise<string[]>, shouldStop: () => boolean): Promise<number> {
    let done = 0
    for (const repo of await list()) {
      if (shouldStop()) return done
      if (this.records.get(repo)) continue
      await this.refresh(repo)
      done++
    }
    await this.records.markComplete()
    return done
  }

  /** Summarise `repo` from its layout now; its record is dropped when it has no index.json. */
  async refresh(repo: string): Promise<void> {
    const doc = await this.deps.readIndex(repo)
    if (!doc) {
      if (this.records.get(repo)) await this.records.delete(repo)
      return
    }
    const before = new Map((this.records.get(repo)?.images ?? []).map((i) => [i.digest, i]))
    const byDigest = new Map<string, ImageSummary>()
    for (const desc of doc.manifests) {
      let image = byDigest.get(desc.digest)
      if (!image) {
        const known = before.get(desc.digest)
        const origin = this.origins.get(`${repo}@${desc.digest}`)
        this.origins.delete(`${repo}@${desc.digest}`)
        image = known
          ? { ...known, tags: [], ...(origin && { origin }) }
          : await this.summarise(repo, desc, origin ?? 'pushed')
        const absent = absentChildren(desc).size
        if (absent > 0) image.absentChildren = absent
        else delete image.absentChildren
        image.referrers = this.deps.db.referrers(repo, desc.digest).map((r) => ({
          digest: r.digest,
          ...(r.artifactType && { artifactType: r.artifactType }),
        }))
        byDigest.set(desc.digest, image)
      }
      const tag = desc.annotations?.[REF_NAME]
      if (tag !== undefined && !image.tags.includes(tag)) image.tags.push(tag)
    }
    const images = [...byDigest.values()]
    const blobs = new Map<string, number>()
    for (const image of images) {
      for (const [digest, size] of Object.entries(image.parts)) blobs.set(digest, size)
    }
    let size = 0
    for (const bytes of blobs.values()) size += bytes
    const record: RepoSummaryRecord = {
      repo,
      images,
      tagCount: images.reduce((n, i) => n + i.tags.length, 0),
      size,
      updatedAt: Date.now(),
    }
    await this.records.put(record)
  }

  /** One manifest's summary from its bytes and, for an image, its config. */
  private async summarise(repo: string, desc: Descriptor, origin: Origin): Promise<ImageSummary> {
    const image: ImageSummary = {
      digest: desc.digest,
      mediaType: desc.mediaType,
      tags: [],
      size: 0,
      platforms: [],
      referrers: [],
      origin,
      parts: { [desc.digest]: desc.size },
    }
    const json = await this.manifestJson(repo, desc.digest)
    if (!json) return withSize(image)
    if (typeof json.subject?.digest === 'string') image.subject = json.subject.digest
    const children = Array.isArray(json.manifests) ? json.manifests : []
    for (const child of children) {
      if (typeof child.digest !== 'string') continue
      const childJson = await this.manifestJson(repo, child.digest)
      if (!childJson) continue // left out on purpose, or not stored
      image.parts[child.digest] = Number(child.size) || 0
      addBlobs(image.parts, childJson)
      const config = await this.configOf(repo, childJson)
      const platform = child.platform ?? config?.platform
      if (platform) image.platforms.push(platformName(platform))
      image.created ??= config?.created
    }
    if (children.length === 0) {
      addBlobs(image.parts, json)
      const config = await this.configOf(repo, json)
      if (config?.platform) image.platforms.push(platformName(config.platform))
      if (config?.created) image.created = config.created
    }
    return withSize(image)
  }

  private async manifestJson(repo: string, digest: string): Promise<ManifestJson | undefined> {
    const bytes = await this.deps.loadManifest(repo, digest).catch(() => null)
    return bytes ? parseJson<ManifestJson>(bytes) : undefined
  }

  /** created and platform from an image's config blob (image-spec config.md). */
  private async configOf(
    repo: string,
    manifest: ManifestJson,
  ): Promise<{ created?: string; platform?: Platform } | undefined> {
    const digest = manifest.config?.digest
    if (typeof digest !== 'string') return undefined
    let parsed: Digest
    try {
      parsed = Digest.parse(digest)
    } catch {
      return undefined
    }
    // An artifact's config (a signature's, an empty descriptor) is small and not an image's.
    if ((manifest.config?.size ?? 0) > 1024 * 1024) return undefined
    const bytes = await this.deps.loadBlob(repo, parsed).catch(() => null)
    const config = bytes ? parseJson<Platform & { created?: unknown }>(bytes) : undefined
    if (!config) return undefined
    const hasPlatform = typeof config.os === 'string' && typeof config.architecture === 'string'
    return {
      ...(typeof config.created === 'string' && { created: config.created }),
      ...(hasPlatform && {
        platform: { os: config.os, architecture: config.architecture, variant: config.variant },
      }),
    }
  }
}

function addBlobs(parts: Record<string, number>, json: ManifestJson): void {
  for (const d of [json.config, ...(Array.isArray(json.layers) ? json.layers : [])]) {
    if (d && typeof d.digest === 'string') parts[d.digest] = Number(d.size) || 0
  }
}

function withSize(image: ImageSummary): ImageSummary {
  image.size = Object.values(image.parts).reduce((a, b) => a + b, 0)
  return image
}

function platformName(p: Platform): string {
  return [p.os ?? 'unknown', p.architecture ?? 'unknown', p.variant].filter(Boolean).join('/')
}

function parseJson<T>(bytes: Buffer): T | undefined {
  try {
    const value = JSON.parse(bytes.toString('utf8')) as unknown
    return typeof value === 'object' && value !== null ? (value as T) : undefined
  } catch {
    return undefined
  }
}
