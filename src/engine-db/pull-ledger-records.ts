// The pull-through cache's ledger as records in the engine index (src/upstream/pull-ledger.ts keeps
// it in memory): what the cache stored, with sizes, and when each piece was last used, so that
// a start with `extensions.sync.maxSize` set reads these instead of walking every blob of every
// repository a content rule covers. A cache like the rest of the index (docs/architecture.md §5.7):
// records are written without waiting, and where they are absent (an index deleted, rebuilt,
// or left by a build that kept no ledger) the walk rebuilds them once.
export interface LedgerBlobRecord {
  repo: string
  digest: string
  size: number
  /** recency as the ledger's counter (not a clock: a board's clock may jump years at boot) */
  lastUsed: number
}

export interface LedgerImageRecord {
  repo: string
  digest: string
  /** the manifest's own digest and every blob it references */
  parts: string[]
  lastUsed: number
}

export interface PullLedgerRecords {
  /** whether the records are the whole ledger (a walk built them, and runs since kept them) */
  complete(): boolean
  /** Drop the mark and every record (committed when it resolves): a rebuild starts from none. */
  clear(): Promise<void>
  /** The records are the whole ledger from now on (written after a walk rebuilt them). */
  markComplete(): void
  putBlob(record: LedgerBlobRecord): void
  putImage(record: LedgerImageRecord): void
  deleteBlob(repo: string, digest: string): void
  deleteImage(repo: string, digest: string): void
  blobs(): Iterable<LedgerBlobRecord>
  images(): Iterable<LedgerImageRecord>
}
