// What the pull-through cache stored, and when each image was last pulled: the bookkeeping of
// `maxSize`. Bytes are counted per blob of a repository (a layer two images of one repository
// share counts once); an image is a stored manifest and the blobs it references. When the total
// passes the limit the least recently pulled image is the next to go (pull-through.ts deletes
// it through the registry API, under the repository's lock). Recency lives in memory: after a
// restart, content found on disk counts as pulled before anything pulled since.
export interface LedgerImage {
  repo: string
  digest: string
  /** the manifest's own digest and every blob it references */
  parts: string[]
  lastUsed: number
}

export interface LedgerBlob {
  repo: string
  digest: string
  size: number
  lastUsed: number
}

export type Victim = ({ kind: 'image' } & LedgerImage) | ({ kind: 'blob' } & LedgerBlob)

export class PullLedger {
  private readonly blobs = new Map<string, LedgerBlob>()
  private readonly images = new Map<string, LedgerImage>()
  /** blobs that could not be removed (a manifest outside the cache's view holds them) */
  private readonly pinned = new Set<string>()
  private tick = 0
  total = 0

  constructor(readonly limitBytes: number | undefined) {}

  /** Recency as a counter: cheaper than a clock, and never ties. */
  private now(): number {
    return ++this.tick
  }

  over(): boolean {
    return this.limitBytes !== undefined && this.total > this.limitBytes
  }

  addBlob(repo: string, digest: string, size: number, recent = true): void {
    const key = `${repo}@${digest}`
    if (this.blobs.has(key)) return this.usedBlob(repo, digest)
    this.blobs.set(key, { repo, digest, size, lastUsed: recent ? this.now() : 0 })
    this.total += size
  }

  addImage(repo: string, digest: string, parts: string[], recent = true): void {
    this.images.set(`${repo}@${digest}`, {
      repo,
      digest,
      parts: [digest, ...parts.filter((p) => p !== digest)],
      lastUsed: recent ? this.now() : 0,
    })
  }

  usedBlob(repo: string, digest: string): void {
    const blob = this.blobs.get(`${repo}@${digest}`)
    if (blob) blob.lastUsed = this.now()
  }

  usedImage(repo: string, digest: string): void {
    const image = this.images.get(`${repo}@${digest}`)
    if (image) image.lastUsed = this.now()
  }

  /** The least recently pulled image; with none left, the least recently used loose blob. */
  victim(): Victim | undefined {
    let best: Victim | undefined
    for (const image of this.images.values()) {
      if (!best || image.lastUsed < best.lastUsed) best = { kind: 'image', ...image }
    }
    if (best) return best
    for (const [key, blob] of this.blobs) {
      if (this.pinned.has(key)) continue
      if (!best || blob.lastUsed < best.lastUsed) best = { kind: 'blob', ...blob }
    }
    return best
  }

  forgetImage(repo: string, digest: string): void {
    this.images.delete(`${repo}@${digest}`)
  }

  forgetBlob(repo: string, digest: string): void {
    const key = `${repo}@${digest}`
    const blob = this.blobs.get(key)
    if (!blob) return
    this.blobs.delete(key)
    this.pinned.delete(key)
    this.total -= blob.size
  }

  pin(repo: string, digest: string): void {
    this.pinned.add(`${repo}@${digest}`)
  }
}
