// `_catalog` and tag lists from what is kept in memory (issue 17, "Catalog and listings at
// scale"): a request walks no directory, and the lists stay right after a push into a new
// repository, a tag delete, GC removing an empty repository, and a restart. Pagination follows
// distribution-spec "Listing Tags"/"Catalog": listing order, `n`, `last` exclusive, Link.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { FsDriver } from '../src/storage/fs/index.js'
import type { StorageDriver } from '../src/storage/index.js'
import { collectorFor, HOUR } from './helpers/gc.js'
import { ManualClock } from '../src/util/clock.js'
import { inMemoryRegistry, makeImage, pushImage, scratchDirs } from './helpers/harness.js'

const dir = scratchDirs()

/** distribution-spec order: case-insensitive, byte order between names equal but for case. */
function listingOrder(a: string, b: string): number {
  const x = a.toLowerCase()
  const y = b.toLowerCase()
  if (x !== y) return x < y ? -1 : 1
  return a < b ? -1 : a > b ? 1 : 0
}

/** An fs driver that counts directory listings (what a walk of the layout costs). */
function countingDriver(root: string): { driver: StorageDriver; lists: () => number } {
  let lists = 0
  const fs = new FsDriver({ root, commit: false })
  const driver = new Proxy(fs, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown
      if (prop !== 'list' || typeof value !== 'function') return value
      return (...args: unknown[]) => {
        lists++
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
  return { driver, lists: () => lists }
}

type Request = (path: string, init?: RequestInit) => Promise<Response>

/** Every page of a listing, following Link, and the concatenated items. */
async function allPages(request: Request, first: string, key: string): Promise<string[][]> {
  const pages: string[][] = []
  for (let path: string | undefined = first; path;) {
    const res = await request(path)
    assert.equal(res.status, 200, path)
    pages.push(((await res.json()) as Record<string, string[]>)[key])
    path = /^<([^>]+)>; rel="next"$/.exec(res.headers.get('link') ?? '')?.[1]
  }
  return pages
}

describe('catalog and tags kept in memory', () => {
  it('answers catalog pages without walking the layout, and stays right', async () => {
    const root = await dir()
    const { driver, lists } = countingDriver(root)
    const clock = new ManualClock()
    let reg = await inMemoryRegistry({ root, driver, clock })
    const names = [
      'alpha',
      'alpha-b',
      'alpha/b',
      'beta/x',
      'beta.y',
      'gamma',
      'a/b/c',
      'zeta',
      'mid',
    ]
    const images = new Map<string, ReturnType<typeof makeImage>>()
    try {
      for (const name of names) {
        images.set(name, makeImage(name))
        assert.equal((await pushImage(reg.request, name, images.get(name)!, 'v1')).status, 201)
      }
      const expected = [...names].sort(listingOrder)
      assert.deepEqual(
        (await allPages(reg.request, '/v2/_catalog', 'repositories')).flat(),
        expected,
      )
      const before = lists()
      const pages = await allPages(reg.request, '/v2/_catalog?n=2', 'repositories')
      assert.deepEqual(pages.flat(), expected)
      assert.ok(pages.every((p) => p.length <= 2))
      assert.equal(pages.length, Math.ceil(expected.length / 2))
      // `last` need not be a listed name: the page starts after where it would sort.
      const after = await allPages(reg.request, '/v2/_catalog?last=b', 'repositories')
      assert.deepEqual(
        after.flat(),
        expected.filter((n) => listingOrder(n, 'b') > 0),
      )
      assert.equal(lists(), before, 'no directory listed for catalog pages')

      // A push into a new repository is listed at once, still without a walk.
      assert.equal((await pushImage(reg.request, 'new/one', makeImage('new'), 'v1')).status, 201)
      const withNew = [...expected, 'new/one'].sort(listingOrder)
      assert.deepEqual(
        (await allPages(reg.request, '/v2/_catalog', 'repositories')).flat(),
        withNew,
      )
      assert.equal(lists(), before, 'no directory listed after a push')

      // GC removes a repository left empty: it leaves the catalog.
      const gone = images.get('gamma')!
      const del = await reg.request(`/v2/gamma/manifests/${gone.digest}`, { method: 'DELETE' })
      assert.equal(del.status, 202)
      clock.advance(2 * HOUR)
      const pass = await collectorFor(reg.storage.registry).runPass()
      assert.deepEqual(pass.removedRepositories, ['gamma'])
      const afterGc = withNew.filter((n) => n !== 'gamma')
      assert.deepEqual(
        (await allPages(reg.request, '/v2/_catalog', 'repositories')).flat(),
        afterGc,
      )

      // A restart lists what is on disk.
      await reg.close()
      reg = await inMemoryRegistry({ root, clock })
      const restarted = await allPages(reg.request, '/v2/_catalog?n=3', 'repositories')
      assert.deepEqual(restarted.flat(), afterGc)
    } finally {
      await reg.close()
    }
  })

  it('pages a large tag list in listing order and follows a tag delete', async () => {
    const reg = await inMemoryRegistry({ root: await dir() })
    try {
      const image = makeImage('tags')
      assert.equal((await pushImage(reg.request, 'many/tags', image, 'first')).status, 201)
      const tags = ['first']
      for (let i = 0; i < 300; i++) {
        const tag = i % 3 === 0 ? `T${i}` : `t${i}`
        tags.push(tag)
        const res = await reg.request(`/v2/many/tags/manifests/${tag}`, {
          method: 'PUT',
          headers: { 'Content-Type': image.mediaType },
          body: image.manifest,
        })
        assert.equal(res.status, 201)
      }
      const expected = [...tags].sort(listingOrder)
      const pages = await allPages(reg.request, '/v2/many/tags/tags/list?n=37', 'tags')
      assert.deepEqual(pages.flat(), expected)
      assert.equal(pages.length, Math.ceil(expected.length / 37))
      const empty = await reg.request('/v2/many/tags/tags/list?n=0')
      assert.deepEqual(((await empty.json()) as { tags: string[] }).tags, [])
      assert.equal(empty.headers.get('link'), null)

      const del = await reg.request('/v2/many/tags/manifests/T150', { method: 'DELETE' })
      assert.equal(del.status, 202)
      const after = await allPages(reg.request, '/v2/many/tags/tags/list?last=t149', 'tags')
      assert.deepEqual(
        after.flat(),
        expected.filter((t) => t !== 'T150' && listingOrder(t, 't149') > 0),
      )
    } finally {
      await reg.close()
    }
  })
})
