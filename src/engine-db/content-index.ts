// What is known about content kept once for every repository holding it (dedupe on a store
// without hard links, e.g. S3: see src/dedupe/shared-content.ts). A cache like the rest of the
// engine index (docs/architecture.md §5.7): losing it costs a re-hash, never data. Kept in the local
// LMDB index by default, or in DynamoDB (cacheDriver) so that several instances share what each
// verified.
export interface ContentRecord {
  /** size of the verified bytes */
  size: number
  /**
   * the stored object's identity when it was hashed (an S3 ETag): a record whose identity no
   * longer matches the object describes other bytes and is not trusted
   */
  identity: string
}

export interface ContentIndex {
  get(digest: string): Promise<ContentRecord | undefined>
  put(digest: string, record: ContentRecord): Promise<void>
  delete(digest: string): Promise<void>
}
