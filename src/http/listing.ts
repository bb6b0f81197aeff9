// GET /v2/<name>/tags/list and GET /v2/_catalog with `n`/`last` pagination (distribution-spec
// "Listing Tags": lexical order, "i.e. case-insensitive alphanumeric order", `last` exclusive,
// n=0 an empty list without Link, and a Link: <...>; rel="next" header whenever more remain).
import { checkRepoName, indexAfter, type RegistryRouter } from '../registry/index.js'
import { RegistryError } from '../registry/index.js'
import type { AppContext } from './body.js'
import { mayRead } from '../auth/index.js'

/** The most results one page carries when a client asks for more (or for all). */
export const MAX_PAGE = 1000

interface Page {
  items: string[]
  next?: string
}

/**
 * One page of `sorted` (in listing order, never sorted here): a binary search for `last` and at
 * most `n` items from there that `keep` accepts (the caller's read permission on the catalog).
 */
function paginate(
  c: AppContext,
  sorted: readonly string[],
  basePath: string,
  keep: (item: string) => boolean = () => true,
): Page {
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
  const items: string[] = []
  let i = last === undefined ? 0 : indexAfter(sorted, last)
  for (; i < sorted.length && items.length < n; i++) if (keep(sorted[i])) items.push(sorted[i])
  while (i < sorted.length && !keep(sorted[i])) i++
  if (i >= sorted.length) return { items }
  const query = new URLSearchParams({ n: String(n), last: items[items.length - 1] })
  return { items, next: `<${basePath}?${query}>; rel="next"` }
}

export async function listTags(c: AppContext, router: RegistryRouter, name: string) {
  const repo = checkRepoName(name)
  const page = paginate(c, await router.for(repo).tags(repo), `/v2/${repo}/tags/list`)
  if (page.next) c.header('Link', page.next)
  return c.json({ name: repo, tags: page.items })
}

export async function listCatalog(c: AppContext, router: RegistryRouter) {
  // Every store's repositories, merged (subPaths); paging runs over the merged list, which holds
  // only the repositories the caller may read.
  const page = paginate(c, await router.catalog(), '/v2/_catalog', (repo) => mayRead(c, repo))
  if (page.next) c.header('Link', page.next)
  return c.json({ repositories: page.items })
}
