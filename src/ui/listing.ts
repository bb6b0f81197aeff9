// The data of GET /v2/_outpost/repositories and of the page's repository list: names in lexical
// order from the engine index's summary records (src/engine-db/repo-summary-records.ts), merged
// across stores, filtered by read access like the catalog and by a name filter, a page at a time.
// Only the records of the page are read: a page of 50 of 10,000 repositories reads 50 records.
import type { ImageSummary, Origin, RepoSummaryRecord } from '../engine-db/index.js'
import type { Registry, RegistryRouter } from '../registry/index.js'
import type { Viewer } from '../auth/index.js'

export const DEFAULT_PAGE = 50
export const MAX_PAGE = 1000

export interface RepositoryEntry {
  name: string
  tags: string[]
  /** bytes of the repository's blobs, a blob shared by several tags once */
  size: number
  platforms: string[]
  /** where its images came from */
  provenance: Origin[]
  /** when the record was last refreshed (ISO 8601) */
  updatedAt: string
}

export interface RepositoryPage {
  repositories: RepositoryEntry[]
  /** the name to pass as `last` for the next page; absent on the last page */
  next?: string
  /** false while a store's records are still being built from its layout after a start */
  complete: boolean
}

export interface ImageEntry extends Omit<ImageSummary, 'parts'> {
  /** referrers are listed under the image they refer to, not as images */
  subject?: never
}

export interface RepositoryDetail extends RepositoryEntry {
  images: ImageEntry[]
}

export interface PageQuery {
  n: number
  last?: string
  /** keep names containing this (case-insensitive) */
  filter?: string
}

/** Parse n/last/q as the catalog does (distribution-spec "Listing Repositories"). */
export function pageQuery(query: (name: string) => string | undefined): PageQuery | string {
  const rawN = query('n')
  let n = DEFAULT_PAGE
  if (rawN !== undefined && rawN !== '') {
    if (!/^\d+$/.test(rawN)) return `n must be a whole number, not ${JSON.stringify(rawN)}`
    n = Math.min(Number(rawN), MAX_PAGE)
  }
  const last = query('last') || undefined
  const filter = query('q')?.trim().toLowerCase() || undefined
  return { n, ...(last && { last }), ...(filter && { filter }) }
}

/** The record of `name` in the store the router sends it to, with hosted provenance applied. */
export function recordOf(router: RegistryRouter, name: string): RepoSummaryRecord | undefined {
  const registry = router.for(name)
  const record = registry.summaries.records.get(name)
  return record && hostedApplied(router, registry, record)
}

export function listPage(router: RegistryRouter, viewer: Viewer, q: PageQuery): RepositoryPage {
  const stores = router.registries()
  const heads = stores.map((registry) => ({ registry, names: owned(router, registry, q.last) }))
  const out: RepositoryEntry[] = []
  let next: string | undefined
  // A k-way merge of each store's names (each already in order).
  const current = heads.map((h) => h.names.next())
  while (true) {
    let min = -1
    for (let i = 0; i < current.length; i++) {
      const c = current[i]
      if (c.done) continue
      if (min === -1 || c.value < (current[min].value as string)) min = i
    }
    if (min === -1) break
    const name = current[min].value as string
    current[min] = heads[min].names.next()
    if (q.filter && !name.toLowerCase().includes(q.filter)) continue
    if (!viewer.canRead(name)) continue
    if (out.length === q.n) {
      next = out.at(-1)?.name
      break
    }
    const record = heads[min].registry.summaries.records.get(name)
    if (record) out.push(entryOf(hostedApplied(router, heads[min].registry, record)))
  }
  const complete = stores.every((r) => r.summaries.records.complete())
  return { repositories: out, ...(next && { next }), complete }
}

/** Names with a record in `registry` that the router sends to it, after `last`. */
function* owned(router: RegistryRouter, registry: Registry, last?: string): Generator<string> {
  for (const name of registry.summaries.records.names(last)) {
    if (router.for(name) === registry) yield name
  }
}

function hostedApplied(
  router: RegistryRouter,
  registry: Registry,
  record: RepoSummaryRecord,
): RepoSummaryRecord {
  if (!router.isHosted(registry)) return record
  return { ...record, images: record.images.map((i) => ({ ...i, origin: 'hosted' as const })) }
}

export function entryOf(record: RepoSummaryRecord): RepositoryEntry {
  const tags = new Set<string>()
  const platforms = new Set<string>()
  const provenance = new Set<Origin>()
  for (const image of record.images) {
    if (image.subject) continue
    for (const t of image.tags) tags.add(t)
    for (const p of image.platforms) platforms.add(p)
    provenance.add(image.origin)
  }
  return {
    name: record.repo,
    tags: [...tags].sort(),
    size: record.size,
    platforms: [...platforms].sort(),
    provenance: [...provenance].sort(),
    updatedAt: new Date(record.updatedAt).toISOString(),
  }
}

export function detailOf(record: RepoSummaryRecord): RepositoryDetail {
  const images: ImageEntry[] = record.images
    .filter((i) => !i.subject)
    .map(({ parts: _parts, subject: _subject, ...rest }) => rest)
  // Tagged images first, newest tag entries last in index.json: show newest first.
  images.reverse().sort((a, b) => Number(b.tags.length > 0) - Number(a.tags.length > 0))
  return { ...entryOf(record), images }
}
