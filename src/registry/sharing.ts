// How identical content is shared across repositories: the one strategy a store chose when it
// opened (docs/architecture.md, "Dedupe"). BlobStore keeps what every store does (verification,
// holder records, quarantine, restoring lost blobs) and asks the strategy only where the three
// ways differ. The strategies live above the OCI model, in src/dedupe/share-by-*.ts:
// - by link: a repository's blob is a hard link to another repository's file (the filesystem);
// - by reference: content is kept once and each repository's blob refers to it (S3, zot's
//   "Deduplication" without hard links; src/dedupe/shared-content.ts);
// - by copy: every repository holds bytes of its own (dedupe off, or a store that cannot share).
import type { ObjectInfo } from '../storage/index.js'
import type { Digest } from './digest.js'

/** Which of the three strategies a store shares content by. */
export type SharingKind = 'link' | 'reference' | 'copy'

/** One repository's blob, as a strategy sees it. */
export interface SharedBlob {
  repo: string
  digest: Digest
  /** the repository's key for the blob (layoutKeys.blob) */
  key: string
  /** another repository's verified copy of this content of `size` bytes (its key), if any */
  findHolder(size: number): Promise<string | undefined>
  /** whether the repository's own object is present and matches its digest (hashed if need be) */
  isVerified(): Promise<boolean>
}

/** Bytes an upload session staged and hashed, ready to become a repository's blob. */
export interface StagedBytes {
  size: number
  /** write the staged bytes as the object at `key` (renamed, or carried from another backend) */
  storeAt(key: string): Promise<void>
  /** make them the repository's own object, keeping what `carry` already put there */
  settle(): Promise<void>
}

/** Shared copies removed by a sweep. */
export interface SweepResult {
  removed: number
  bytes: number
}

export interface SweepOptions {
  minAgeMs: number
  shouldStop?: () => boolean
}

export interface Sharing {
  readonly kind: SharingKind
  /** whether a cross-repository mount stores no new bytes (else it answers to the reserve) */
  readonly mountsShare: boolean
  /** whether a small blob may be written straight from memory, as an object of its own */
  readonly takesBytes: boolean
  /**
   * What the startup pass does on this store: share what is stored, give references full bytes
   * of their own again (dedupe turned off on a store that shared by reference), or nothing.
   */
  readonly startupPass: 'share' | 'restore' | 'none'

  /**
   * For an object that refers to shared content: that content's verified size (null when it is
   * absent or bad). Undefined when the object holds bytes of its own, which BlobStore verifies.
   */
  referredSize(digest: Digest, info: ObjectInfo): Promise<number | null> | undefined
  /**
   * Before the repository's lock, bytes staged on another backend go up: `store(key)` writes
   * them where this strategy keeps content (the shared copy, or the repository's own key).
   */
  carry(blob: SharedBlob, store: (key: string) => Promise<void>): Promise<void>
  /** Under the repository's lock: the staged bytes become `blob` (shared, linked or its own). */
  publish(blob: SharedBlob, staged: StagedBytes): Promise<void>
  /** Small bytes (a manifest) become `blob`. */
  putBytes(blob: SharedBlob, bytes: Uint8Array): Promise<void>
  /**
   * Cross-repository mount of the verified copy at `sourceKey` (distribution-spec "Mounting a
   * blob from another repository"); `stagedKey` is free for bytes passing through. False when
   * the source vanished meanwhile or did not hash to the digest.
   */
  mount(blob: SharedBlob, sourceKey: string, stagedKey: string): Promise<boolean>
  /**
   * Startup dedupe of a blob already stored, where this strategy does it per blob (by
   * reference); `pace` is asked before bytes are hashed. Returns the bytes saved.
   */
  shareExisting(blob: SharedBlob, pace: (bytes: number) => Promise<void>): Promise<number>
  /** Give `blob` (lost to quarantine) the verified bytes at `sourceKey` again. */
  give(sourceKey: string, blob: SharedBlob): Promise<void>
  /** Give the references among `blobs` full bytes of their own; returns how many. */
  restore(blobs: AsyncIterable<{ key: string; digest: Digest }>): Promise<number>
  /**
   * Remove shared copies no repository refers to any more. `listedBy` maps each digest to the
   * repositories listing it; asked for only by a strategy that keeps shared copies.
   */
  sweep(
    repositories: () => Promise<string[]>,
    listedBy: () => Promise<ReadonlyMap<string, readonly string[]>>,
    options: SweepOptions,
  ): Promise<SweepResult>
}
