// What the operator's page lists per repository (issue 18), as records in the engine index: each
// image's tags, size, platforms, created time, referrers and where it came from, with the blobs
// it uses (so a repository's size counts a layer shared by two tags once, and a store's dedupe
// savings are summed without a walk). Kept current by src/registry/repo-summary.ts
// whenever an index.json is written (push, mirror, import, pull-through, delete, GC); a cache like
// the rest of the index (DESIGN.md invariant 7): a lost record is rebuilt from the layout.

/** Where an image came from. `hosted` is decided by the store (a read-only hosted directory). */
export type Origin = 'pushed' | 'pulled-through' | 'mirrored' | 'imported' | 'hosted'

export interface ReferrerSummary {
  digest: string
  /** image-spec artifactType (e.g. a signature's or an SBOM's media type) */
  artifactType?: string
}

export interface ImageSummary {
  digest: string
  mediaType: string
  tags: string[]
  /** bytes of the manifest, its config and layers (and an index's stored children), each once */
  size: number
  /** os/architecture[/variant] of an image, or of each stored child of an index */
  platforms: string[]
  /** the config's `created`, as written (RFC 3339) */
  created?: string
  referrers: ReferrerSummary[]
  origin: Origin
  /** children of an index left out on purpose (a mirror or pull-through took some platforms) */
  absentChildren?: number
  /** set on a referrer (a signature, an SBOM): the manifest it refers to */
  subject?: string
  /** digest -> size of every blob this image uses, its own manifest included */
  parts: Record<string, number>
}

export interface RepoSummaryRecord {
  repo: string
  /** every manifest index.json lists (referrers included, marked by `subject`), in its order */
  images: ImageSummary[]
  tagCount: number
  /** bytes of the blobs the repository's images use, each once (a shared layer counts once) */
  size: number
  /** wall-clock milliseconds of the refresh that wrote this record */
  updatedAt: number
}

export interface RepoSummaryRecords {
  get(repo: string): RepoSummaryRecord | undefined
  put(record: RepoSummaryRecord): Promise<boolean>
  delete(repo: string): Promise<boolean>
  /** Repository names with a record, in key order, strictly after `after`. */
  names(after?: string): Iterable<string>
  /** whether every repository of the store has a record (set after a backfill pass) */
  complete(): boolean
  markComplete(): Promise<boolean>
}
