// Manifests fetched from an upstream but not stored yet. The registry stores a manifest only
// once every blob (or child manifest) it references is in the repository
// (docs/architecture.md §5.1), while a pull-through client asks for the manifest first and its layers after. So a fetched
// manifest is served from here while its blobs stream through, and stored the moment the last
// one lands. Bounded by bytes: the oldest entry goes first (it is fetched again if needed).
import type { Digest } from '../registry/index.js'

export interface PendingManifest {
  repo: string
  digest: string
  mediaType: string
  bytes: Buffer
  /** tags the upstream resolved to this digest; empty for a manifest pulled by digest */
  tags: Set<string>
  /** config and layers (an image), which must be stored first */
  blobs: Array<{ digest: Digest; size: number }>
  /** child manifests (an index), which must be stored first */
  children: string[]
  /** children content.platforms leaves out: stored absent on purpose (partial-index.ts) */
  absentChildren?: ReadonlySet<string>
  /** the manifest this one refers to (a signature, an SBOM): image-spec manifest.md "subject" */
  subject?: string
}

export class PendingManifests {
  /** `${repo}@${digest}`, in insertion order: the first entry is the oldest */
  private readonly entries = new Map<string, PendingManifest>()
  private readonly tags = new Map<string, string>()
  private bytes = 0

  constructor(private readonly limitBytes = 32 * 1024 * 1024) {}

  add(entry: PendingManifest): void {
    const key = `${entry.repo}@${entry.digest}`
    const known = this.entries.get(key)
    if (known) {
      for (const tag of entry.tags) known.tags.add(tag)
      entry = known
      this.entries.delete(key)
    } else this.bytes += entry.bytes.length
    this.entries.set(key, entry)
    for (const tag of entry.tags) this.tags.set(`${entry.repo}:${tag}`, entry.digest)
    for (const [oldest, old] of this.entries) {
      if (this.bytes <= this.limitBytes || oldest === key) break
      this.remove(old.repo, old.digest)
    }
  }

  get(repo: string, digest: string): PendingManifest | undefined {
    return this.entries.get(`${repo}@${digest}`)
  }

  byTag(repo: string, tag: string): PendingManifest | undefined {
    const digest = this.tags.get(`${repo}:${tag}`)
    return digest === undefined ? undefined : this.get(repo, digest)
  }

  /** A repository's pending manifests, images before indexes (children are stored first). */
  inRepo(repo: string): PendingManifest[] {
    const found = [...this.entries.values()].filter((e) => e.repo === repo)
    return found.sort((a, b) => a.children.length - b.children.length)
  }

  remove(repo: string, digest: string): void {
    const entry = this.entries.get(`${repo}@${digest}`)
    if (!entry) return
    this.entries.delete(`${repo}@${digest}`)
    this.bytes -= entry.bytes.length
    for (const tag of entry.tags) {
      if (this.tags.get(`${repo}:${tag}`) === digest) this.tags.delete(`${repo}:${tag}`)
    }
  }
}
