// Tags list and catalog with pagination (distribution-spec "Listing Tags", end-8a/8b, and the
// _catalog extension): lexical order, `n`, `last`, and Link: <...>; rel="next".
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { inMemoryRegistry, makeImage, pushImage, type InMemoryRegistry } from './helpers/harness.js'
import { expectError, pushBlob } from './helpers/api.js'

interface Page<T> {
  body: T
  next: string | null
}

async function page<T>(reg: InMemoryRegistry, path: string): Promise<Page<T>> {
  const res = await reg.request(path)
  assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`)
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/)
  const link = res.headers.get('link')
  let next: string | null = null
  if (link !== null) {
    const m = /^<([^>]+)>;\s*rel="next"$/.exec(link)
    assert.ok(m, `Link header per RFC 5988: ${link}`)
    next = m[1]
  }
  return { body: (await res.json()) as T, next }
}

/** Follow Link headers from `path` to the end; returns each page's items. */
async function walk(reg: InMemoryRegistry, path: string, key: 'tags' | 'repositories') {
  const pages: string[][] = []
  let next: string | null = path
  while (next !== null) {
    const p: Page<Record<string, string[]>> = await page(reg, next)
    pages.push(p.body[key])
    next = p.next
    assert.ok(pages.length < 50, 'pagination ends')
  }
  return pages
}

// Tag order per distribution-spec "Listing Tags": lexical, i.e. case-insensitive alphanumeric.
const TAGS = ['v1.10', 'latest', 'B2', 'a1', 'v1.2', 'b1', 'A2', '0.9', 'v1.0', 'C']
const ORDERED = ['0.9', 'a1', 'A2', 'b1', 'B2', 'C', 'latest', 'v1.0', 'v1.10', 'v1.2']

describe('tags list', () => {
  let reg: InMemoryRegistry
  const repo = 'list/app'
  before(async () => {
    reg = await inMemoryRegistry()
    const image = makeImage('tags', 1)
    for (const tag of TAGS)
      assert.equal((await pushImage(reg.request, repo, image, tag)).status, 201)
  })
  after(async () => reg.close())

  it('lists every tag once, in lexical order, without a Link', async () => {
    const p = await page<{ name: string; tags: string[] }>(reg, `/v2/${repo}/tags/list`)
    assert.deepEqual(p.body, { name: repo, tags: ORDERED })
    assert.equal(p.next, null)
  })

  it('n limits a page and Link leads to the rest, page by page', async () => {
    const first = await page<{ tags: string[] }>(reg, `/v2/${repo}/tags/list?n=3`)
    assert.deepEqual(first.body.tags, ORDERED.slice(0, 3))
    assert.ok(first.next?.startsWith(`/v2/${repo}/tags/list?`), String(first.next))
    const params = new URL(first.next!, 'http://x').searchParams
    assert.equal(params.get('n'), '3')
    assert.equal(params.get('last'), ORDERED[2])
    const pages = await walk(reg, `/v2/${repo}/tags/list?n=3`, 'tags')
    assert.deepEqual(pages, [
      ORDERED.slice(0, 3),
      ORDERED.slice(3, 6),
      ORDERED.slice(6, 9),
      ORDERED.slice(9),
    ])
  })

  it('a page that ends exactly at the last tag carries no Link', async () => {
    const all = await page<{ tags: string[] }>(reg, `/v2/${repo}/tags/list?n=${ORDERED.length}`)
    assert.deepEqual(all.body.tags, ORDERED)
    assert.equal(all.next, null)
    const more = await page<{ tags: string[] }>(reg, `/v2/${repo}/tags/list?n=500`)
    assert.deepEqual(more.body.tags, ORDERED)
    assert.equal(more.next, null)
    const tail = await page<{ tags: string[] }>(reg, `/v2/${repo}/tags/list?n=2&last=${ORDERED[7]}`)
    assert.deepEqual(tail.body.tags, ORDERED.slice(8))
    assert.equal(tail.next, null)
  })

  it('last is exclusive, with or without n', async () => {
    const rest = await page<{ tags: string[] }>(reg, `/v2/${repo}/tags/list?last=b1`)
    assert.deepEqual(rest.body.tags, ORDERED.slice(4))
    assert.equal(rest.next, null)
    const two = await page<{ tags: string[] }>(reg, `/v2/${repo}/tags/list?n=2&last=b1`)
    assert.deepEqual(two.body.tags, ['B2', 'C'])
    assert.ok(two.next)
    // `last` need not be an existing tag: the list resumes after where it would sort.
    const between = await page<{ tags: string[] }>(reg, `/v2/${repo}/tags/list?last=bz`)
    assert.deepEqual(between.body.tags, ['C', 'latest', 'v1.0', 'v1.10', 'v1.2'])
    const past = await page<{ tags: string[] }>(reg, `/v2/${repo}/tags/list?last=zzz`)
    assert.deepEqual(past.body.tags, [])
    assert.equal(past.next, null)
  })

  it('n=0 is an empty list without a Link', async () => {
    for (const query of ['n=0', 'n=0&last=a1']) {
      const p = await page<{ name: string; tags: string[] }>(reg, `/v2/${repo}/tags/list?${query}`)
      assert.deepEqual(p.body, { name: repo, tags: [] })
      assert.equal(p.next, null)
    }
  })

  it('an n that is not a non-negative integer is 400', async () => {
    for (const n of ['-1', 'abc', '1.5', '', '1e3', '0x10']) {
      const res = await reg.request(`/v2/${repo}/tags/list?n=${n}`)
      assert.equal(res.status, 400, `n=${n}`)
      await expectError(res, 400, 'UNSUPPORTED')
    }
  })

  it('an unknown repository is 404 NAME_UNKNOWN; an invalid name is 400 NAME_INVALID', async () => {
    await expectError(await reg.request('/v2/list/missing/tags/list'), 404, 'NAME_UNKNOWN')
    await expectError(await reg.request('/v2/List/App/tags/list'), 400, 'NAME_INVALID')
  })

  it('a repository with blobs but no manifest lists no tags', async () => {
    await pushBlob(reg.request, 'list/blobs-only', Buffer.from('just a blob'))
    const p = await page<{ name: string; tags: string[] }>(reg, '/v2/list/blobs-only/tags/list')
    assert.deepEqual(p.body, { name: 'list/blobs-only', tags: [] })
  })

  it('a deleted tag leaves the list', async () => {
    assert.equal((await reg.request(`/v2/${repo}/manifests/C`, { method: 'DELETE' })).status, 202)
    const p = await page<{ tags: string[] }>(reg, `/v2/${repo}/tags/list`)
    assert.deepEqual(
      p.body.tags,
      ORDERED.filter((t) => t !== 'C'),
    )
    assert.equal((await pushImage(reg.request, repo, makeImage('tags', 1), 'C')).status, 201)
  })
})

describe('catalog', () => {
  let reg: InMemoryRegistry
  const REPOS = [
    'zeta',
    'a/b/c',
    'alpha',
    'a',
    'a/b',
    'm/x-y',
    'a.b',
    'a-b',
    'a_b',
    'nested/deep/er/still',
  ]
  before(async () => {
    reg = await inMemoryRegistry()
    for (const repo of REPOS) await pushBlob(reg.request, repo, Buffer.from(`blob of ${repo}`))
    // An open upload session alone does not make a repository.
    assert.equal(
      (await reg.request('/v2/only-session/blobs/uploads/', { method: 'POST' })).status,
      202,
    )
  })
  after(async () => reg.close())

  const SORTED = () => [...REPOS].sort()

  it('lists every repository, nested names included, in lexical order', async () => {
    const p = await page<{ repositories: string[] }>(reg, '/v2/_catalog')
    assert.deepEqual(p.body, { repositories: SORTED() })
    assert.ok(p.body.repositories.includes('a/b/c'))
    assert.ok(p.body.repositories.includes('nested/deep/er/still'))
    assert.equal(p.next, null)
  })

  it('paginates with n and Link, and the pages add up to the whole list', async () => {
    const first = await page<{ repositories: string[] }>(reg, '/v2/_catalog?n=4')
    assert.deepEqual(first.body.repositories, SORTED().slice(0, 4))
    assert.ok(first.next?.startsWith('/v2/_catalog?'), String(first.next))
    const pages = await walk(reg, '/v2/_catalog?n=4', 'repositories')
    assert.deepEqual(
      pages.map((p) => p.length),
      [4, 4, 2],
    )
    assert.deepEqual(pages.flat(), SORTED())
  })

  it('last is exclusive; n=0 is empty without Link; a bad n is 400', async () => {
    const after = await page<{ repositories: string[] }>(reg, '/v2/_catalog?last=a/b/c')
    assert.deepEqual(after.body.repositories, SORTED().slice(SORTED().indexOf('a/b/c') + 1))
    const none = await page<{ repositories: string[] }>(reg, '/v2/_catalog?n=0')
    assert.deepEqual(none.body, { repositories: [] })
    assert.equal(none.next, null)
    await expectError(await reg.request('/v2/_catalog?n=-5'), 400, 'UNSUPPORTED')
  })

  it('a repository emptied of tags is still a repository; a new one appears', async () => {
    assert.equal((await pushImage(reg.request, 'later', makeImage('later'), 'v1')).status, 201)
    const p = await page<{ repositories: string[] }>(reg, '/v2/_catalog')
    assert.deepEqual(p.body.repositories, [...REPOS, 'later'].sort())
  })
})
