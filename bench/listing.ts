// Listing workloads: the tags list of the small-image repository and the catalog, each read page
// by page with `?n=` and the Link header's rel="next" (distribution spec, "Listing Tags" and the
// catalog extension), `manifestConcurrency` listings at a time for a fixed time. The figure is
// page requests per second; every full listing is checked for its item count, and the pages a
// listing took are reported, since a server that ignores `?n=` answers in fewer, larger pages.
import { expectStatus, type RegistryClient } from './client.js'
import { smallImage } from './payload.js'
import {
  forEachInParallel,
  inParallel,
  pushImage,
  since,
  type Bench,
  type Outcome,
} from './workloads.js'

const CATALOG_PREFIX = 'bench/catalog'
const MAX_PAGES = 10_000

/** The path of the next page from a Link header (`<path>; rel="next"`), if any. */
export function nextPage(link: string | string[] | undefined): string | undefined {
  const text = Array.isArray(link) ? link.join(', ') : link
  if (!text || !/rel="?next"?/.test(text)) return undefined
  const match = /<([^>]+)>/.exec(text)
  if (!match) return undefined
  const url = new URL(match[1], 'http://x')
  return url.pathname + url.search
}

/** Read every page of a listing; returns the number of pages and of items. */
async function listAll(
  client: RegistryClient,
  first: string,
  field: 'tags' | 'repositories',
): Promise<{ pages: number; items: number }> {
  let pages = 0
  let items = 0
  for (let path: string | undefined = first; path;) {
    if (++pages > MAX_PAGES) throw new Error(`${first}: more than ${MAX_PAGES} pages`)
    const reply = expectStatus(await client.call('GET', path), 200, `GET ${path}`)
    const list = (JSON.parse(reply.body.toString('utf8')) as Record<string, unknown>)[field]
    if (list !== null && !Array.isArray(list)) throw new Error(`GET ${path}: no ${field} array`)
    items += list?.length ?? 0
    path = nextPage(reply.headers.link)
  }
  return { pages, items }
}

/** Full listings of `first` until the bench's time is up; page requests per second. */
async function listFor(
  bench: Bench,
  first: string,
  field: 'tags' | 'repositories',
  atLeast: number,
): Promise<Outcome> {
  const { client, plan } = bench
  let requests = 0
  let listings = 0
  const began = process.hrtime.bigint()
  const deadline = performance.now() + (plan.listSeconds ?? plan.seconds) * 1000
  await inParallel(plan.manifestConcurrency, async () => {
    while (performance.now() < deadline) {
      const { pages, items } = await listAll(client, first, field)
      if (items < atLeast)
        throw new Error(`${first}: ${items} ${field} listed, expected ${atLeast}`)
      requests += pages
      listings++
    }
  })
  const seconds = since(began)
  return { value: requests / seconds, unit: 'req/s', seconds, pagesPerListing: requests / listings }
}

function pageSize(bench: Bench): number {
  return bench.plan.pageSize ?? 50
}

/** The tags of the last small-image run (one per pushed image), `?n=` at a time. */
export function listTags(bench: Bench): Promise<Outcome> {
  if (!bench.smallRepo) throw new Error('no small images were pushed: no tags to list')
  const first = `/v2/${bench.smallRepo}/tags/list?n=${pageSize(bench)}`
  return listFor(bench, first, 'tags', bench.pushed.length)
}

/** The catalog (the fixture's repositories and the bench's own), `?n=` at a time. */
export function listCatalog(bench: Bench): Promise<Outcome> {
  return listFor(bench, `/v2/_catalog?n=${pageSize(bench)}`, 'repositories', catalogRepos(bench))
}

function catalogRepos(bench: Bench): number {
  return bench.plan.catalogRepos ?? 100
}

/** Give the catalog something to page through: one small image in each of N repositories. */
export async function catalogFixture(bench: Bench): Promise<void> {
  await forEachInParallel(catalogRepos(bench), bench.plan.imageConcurrency, async (i) => {
    const repo = `${CATALOG_PREFIX}/c${String(i).padStart(4, '0')}`
    await pushImage(bench.client, repo, smallImage(20_000 + i), 'v1')
  })
}
