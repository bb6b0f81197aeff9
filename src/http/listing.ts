// GET /v2/<name>/tags/list and GET /v2/_catalog with `n`/`last` pagination (distribution-spec
// "Listing Tags": lexical order, "i.e. case-insensitive alphanumeric order", `last` exclusive,
// n=0 an empty list without Link, and a Link: <...>; rel="next" header whenever more remain).
import { checkRepoName, type RegistryRouter } from '../registry/index.js'
import { RegistryError } from '../registry/index.js'
import type { AppContext } from './body.js'
import { mayRead } from '../auth/index.js'

/** The most results one page carries when a client asks for more (or for all). */
export const MAX_PAGE = 1000

/** Case-insensitive order; names equal but for case keep a stable byte order between them. */
export function listingOrder(a: string, b: string): number {
  const x = a.toLowerCase()
  const y = b.toLowerCase()
  if (x !== y) return x < y ? -1 : 1
  return a < b ? -1 : a > b ? 1 : 0
}

interface Page {
  items: string[]
  next?: string
}

function paginate(c: AppContext, all: string[], basePath: string): Page {
  const nParam = c.req.query('n')
  const last = c.req.query('last')
  let n = MAX_PAGE
  if (nParam !== undefined) {
    if (!/^\d+$/.test(nParam)) {
      throw new RegistryError(
        'PAGINATION_NUMBER_INVALID',
        `n must be a non-negative integer, got ${JSON.stringify(nParam)}`,
      )
    }
    n = Math.min(Number(nParam), MAX_PAGE)
  }
  if (n === 0) return { items: [] }
  const sorted = [...all].sort(listingOrder)
  const from = last === undefined ? sorted : sorted.filter((item) => listingOrder(item, last) > 0)
  const items = from.slice(0, n)
  if (from.length <= n) return { items }
  const query = new URLSearchParams({ n: String(n), last: items[items.length - 1] })
  return { items, next: `<${basePath}?${query}>; rel="next"` }
}

export async function listTags(c: AppContext, router: RegistryRouter, name: string) {
  const repo = checkRepoName(name)
  const page = paginate(c, await router.for(repo).tags(repo), `/v2/${repo}/tags/list`)
  if (page.next) c.header('Link', page.next)
  return c.json({ name: repo, tags: page.items })
}

/**
 * The catalog a first page was cut from, for the pages that follow it (`last` set): walking
 * every store for each page made a paged listing cost pages x repositories; a snapshot also
 * keeps one listing consistent. A first page always walks afresh.
 */
const SNAPSHOT_MS = 10_000
const snapshots = new WeakMap<RegistryRouter, { at: number; names: Promise<string[]> }>()

function catalogOf(c: AppContext, router: RegistryRouter): Promise<string[]> {
  const held = snapshots.get(router)
  if (c.req.query('last') !== undefined && held && performance.now() - held.at < SNAPSHOT_MS) {
    return held.names
  }
  const names = router.repositories()
  snapshots.set(router, { at: performance.now(), names })
  names.catch(() => snapshots.delete(router))
  return names
}

export async function listCatalog(c: AppContext, router: RegistryRouter) {
  // Every store's repositories, merged (subPaths); paging runs over the merged list, which holds
  // only the repositories the caller may read.
  const readable = (await catalogOf(c, router)).filter((repo) => mayRead(c, repo))
  const page = paginate(c, readable, '/v2/_catalog')
  if (page.next) c.header('Link', page.next)
  return c.json({ repositories: page.items })
}
