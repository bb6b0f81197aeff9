// What the pull-through cache stored, and when each image was last pulled: the bookkeeping of
// `maxSize`. Bytes are counted per blob of a repository (a layer two images of one repository
// share counts once); an image is a stored manifest and the blobs it references. When the total
// passes the limit the least recently pulled image is the next to go (pull-through.ts deletes
// it through the registry API, under the repository's lock).
// With a sink, the ledger is kept in the engine index (src/engine-db/pull-ledger-records.ts) so
// a restart reads it back instead of walking the store: an entry is written when it is added
// or forgotten; a use only marks it, and flush() writes the marked ones' recency (a timer and a
// clean stop call it), so a blob GET costs no write (SD cards wear).
import type { LedgerBlobRecord, LedgerImageRecord, PullLedgerRecords } from '../engine-db/index.js'

export type LedgerImage = LedgerImageRecord
export type LedgerBlob = LedgerBlobRecord

export type Victim = ({ kind: 'image' } & LedgerImage) | ({ kind: 'blob' } & LedgerBlob)

/** Where the records of `repo` live (its store's engine index); none: kept in memory only. */
export type LedgerSink = (repo: string) => PullLedgerRecords | undefined

/**
 * How often the ledger's recency is written to the engine index: LRU order survives a restart
 * to within this much use (a clean stop writes it all), at one write per used entry per period.
 */
export const LEDGER_FLUSH_MS = 60_000

export class PullLedger {
  private readonly blobs = new Map<string, LedgerBlob>()
  private readonly images = new Map<string, LedgerImage>()
  /** blobs that could not be removed (a manifest outside the cache's view holds them) */
  private readonly pinned = new Set<string>()
  /** entries used since their recency was last written (keys of `blobs` and `images`) */
  private readonly usedBlobs = new Set<string>()
  private readonly usedImages = new Set<string>()
  private tick = 0
  total = 0

  constructor(
    readonly limitBytes: number | undefined,
    private readonly sink: LedgerSink = () => undefined,
  ) {}

  /** Recency as a counter: cheaper than a clock, never ties, and immune to clock jumps. */
  private now(): number {
    return ++this.tick
  }

  over(): boolean {
    return this.limitBytes !== undefined && this.total > this.limitBytes
  }

  addBlob(repo: string, digest: string, size: number, recent = true): void {
    const key = `${repo}@${digest}`
    if (this.blobs.has(key)) return this.usedBlob(repo, digest)
    const blob = { repo, digest, size, lastUsed: recent ? this.now() : 0 }
    this.blobs.set(key, blob)
    this.total += size
    this.sink(repo)?.putBlob(blob)
  }

  addImage(repo: string, digest: string, parts: string[], recent = true): void {
    const key = `${repo}@${digest}`
    const image = {
      repo,
      digest,
      parts: [digest, ...parts.filter((p) => p !== digest)],
      lastUsed: recent ? this.now() : 0,
    }
    this.images.set(key, image)
    this.usedImages.delete(key)
    this.sink(repo)?.putImage(image)
  }

  /** An entry read back from the engine index: counted, not written again. */
  restoreBlob(blob: LedgerBlob): void {
    const key = `${blob.repo}@${blob.digest}`
    if (this.blobs.has(key)) return
    this.blobs.set(key, { ...blob })
    this.total += blob.size
    this.tick = Math.max(this.tick, blob.lastUsed)
  }

  restoreImage(image: LedgerImage): void {
    this.images.set(`${image.repo}@${image.digest}`, { ...image })
    this.tick = Math.max(this.tick, image.lastUsed)
  }

  usedBlob(repo: string, digest: string): void {
    const key = `${repo}@${digest}`
    const blob = this.blobs.get(key)
    if (!blob) return
    blob.lastUsed = this.now()
    this.usedBlobs.add(key)
  }

  usedImage(repo: string, digest: string): void {
    const key = `${repo}@${digest}`
    const image = this.images.get(key)
    if (!image) return
    image.lastUsed = this.now()
    this.usedImages.add(key)
  }

  /** Write the recency of every entry used since the last flush; returns how many. */
  flush(): number {
    let written = 0
    for (const key of this.usedBlobs) {
      const blob = this.blobs.get(key)
      if (blob) this.sink(blob.repo)?.putBlob(blob)
      written++
    }
    for (const key of this.usedImages) {
      const image = this.images.get(key)
      if (image) this.sink(image.repo)?.putImage(image)
      written++
    }
    this.usedBlobs.clear()
    this.usedImages.clear()
    return written
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
    const key = `${repo}@${digest}`
    if (!this.images.delete(key)) return
    this.usedImages.delete(key)
    this.sink(repo)?.deleteImage(repo, digest)
  }

  forgetBlob(repo: string, digest: string): void {
    const key = `${repo}@${digest}`
    const blob = this.blobs.get(key)
    if (!blob) return
    this.blobs.delete(key)
    this.pinned.delete(key)
    this.usedBlobs.delete(key)
    this.total -= blob.size
    this.sink(repo)?.deleteBlob(repo, digest)
  }

  pin(repo: string, digest: string): void {
    this.pinned.add(`${repo}@${digest}`)
  }
}
