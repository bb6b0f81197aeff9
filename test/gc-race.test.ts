// A push racing GC in the same repository (docs/architecture.md §5.6): at gcDelay 0 every blob is
// fair game the moment it lands, yet a push either completes with all its blobs present or fails
// cleanly with MANIFEST_BLOB_UNKNOWN, and no tag ever resolves to a manifest with a missing blob.
// And GC emptying a repository never strands a blob an upload is publishing right then.
import { collectGarbage } from '../src/gc/index.js'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { layoutKeys } from '../src/layout/index.js'
import { FsDriver } from '../src/storage/fs/index.js'
import { createApp } from '../src/http/index.js'
import { silentLogger } from '../src/log/logger.js'
import { ownStorage } from '../src/server/storage-owner.js'
import type { StorageDriver } from '../src/storage/index.js'
import { expectError, pushBlob, putManifest } from './helpers/api.js'
import { catalog, gcPolicy, pullWhole, yieldTimes } from './helpers/gc.js'
import {
  inMemoryRegistry,
  makeImage,
  removeDir,
  sha256,
  tempDir,
  type TestImage,
} from './helpers/harness.js'

const ROUNDS = 500
const TAGS = 4
const REPO = 'race/app'

/** A small seeded generator (mulberry32), so a failing interleaving can be replayed. */
function random(seed: number): (below: number) => number {
  let a = seed >>> 0
  return (below) => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * below)
  }
}

/**
 * Round `n`'s image: its own config and layer, plus a layer from a small pool that older
 * images (soon untagged, then collected) also use, so GC often deletes a blob a push needs.
 */
function imageFor(n: number): TestImage {
  const base = makeImage(`round ${n}`, 1)
  const shared = Buffer.from(`shared layer ${n % 7}`)
  const doc = JSON.parse(base.manifest.toString('utf8'))
  doc.layers.push({
    mediaType: doc.layers[0].mediaType,
    digest: sha256(shared),
    size: shared.length,
  })
  const manifest = Buffer.from(JSON.stringify(doc))
  return { ...base, layers: [...base.layers, shared], manifest, digest: sha256(manifest) }
}

const roots: string[] = []
after(async () => {
  for (const r of roots) await removeDir(r)
})

describe('gc racing pushes', () => {
  it(`${ROUNDS} rounds of push-blobs-then-manifest against GC at gcDelay 0`, async (t) => {
    const root = await tempDir()
    roots.push(root)
    const reg = await inMemoryRegistry({ root })
    const { registry } = reg.storage
    const policy = gcPolicy({ delayMs: 0, manifestDelayMs: 0 })
    const rand = random(20260101)
    const expected = new Map<string, string>() // tag -> manifest digest
    let refused = 0
    let collected = 0
    const pushBlobs = async (image: TestImage, pause: boolean) => {
      for (const blob of [image.config, ...image.layers]) {
        if (pause) await yieldTimes(rand(3))
        await pushBlob(reg.request, REPO, blob) // asserts 201: GC never touches uploads
      }
    }
    const putImage = (image: TestImage, tag: string) =>
      putManifest(reg.request, REPO, tag, image.manifest, image.mediaType)

    try {
      for (let n = 0; n < ROUNDS; n++) {
        const image = imageFor(n)
        const tag = `t${n % TAGS}`
        // GC starts at a random point of the push: among its blob uploads, or around its
        // manifest PUT (the window a re-check under the repository lock must close).
        let blobsDone!: () => void
        const blobsPushed = new Promise<void>((resolve) => (blobsDone = resolve))
        const push = (async () => {
          await yieldTimes(rand(3))
          await pushBlobs(image, true)
          blobsDone()
          await yieldTimes(rand(4))
          return putImage(image, tag)
        })()
        const gc = (async () => {
          for (let passes = 1 + rand(2); passes > 0; passes--) {
            if (rand(2) === 1) await blobsPushed
            await yieldTimes(rand(8))
            const result = await collectGarbage(registry, REPO, policy)
            collected += result.blobs.length
          }
        })()
        const [res] = await Promise.all([push, gc])
        if (res.status !== 201) {
          // The only acceptable failure; the client pushes its blobs again and succeeds.
          await expectError(res, 400, 'MANIFEST_BLOB_UNKNOWN', 'PUT')
          refused++
          await pushBlobs(image, false)
          const again = await putImage(image, tag)
          assert.equal(again.status, 201, `round ${n}: ${await again.text()}`)
        }
        expected.set(tag, image.digest)

        // Every tag resolves to the manifest last pushed under it, and that image is whole.
        const tags = (await (await reg.request(`/v2/${REPO}/tags/list`)).json()) as {
          tags: string[]
        }
        assert.deepEqual(tags.tags, [...expected.keys()].sort(), `round ${n}`)
        for (const [name, digest] of expected) {
          assert.equal((await pullWhole(reg.request, REPO, name)).digest, digest, `round ${n}`)
        }
        // And no manifest the layout lists points at a missing blob, tagged or not.
        const listed = JSON.parse(await readFile(join(root, REPO, 'index.json'), 'utf8'))
        for (const desc of listed.manifests as Array<{ digest: string }>) {
          if (![...expected.values()].includes(desc.digest))
            await pullWhole(reg.request, REPO, desc.digest)
        }
      }
      t.diagnostic(
        `${refused} pushes refused with MANIFEST_BLOB_UNKNOWN, ${collected} blobs collected`,
      )
      assert.ok(collected > ROUNDS, `GC really raced the pushes (collected ${collected} blobs)`)
    } finally {
      await reg.close()
    }
  })
})

/**
 * The real filesystem driver, with a gate the test opens: `move` and `list` first await the
 * test's hooks, so one exact interleaving of two requests can be replayed. Nothing is faked.
 */
function gated(
  driver: FsDriver,
  hooks: {
    move?: (to: string) => Promise<void>
    moved?: (to: string) => void
    list?: (prefix: string) => Promise<void>
  },
): StorageDriver {
  return new Proxy(driver, {
    get(target, prop) {
      if (prop === 'move')
        return async (from: string, to: string) => {
          await hooks.move?.(to)
          await target.move(from, to)
          hooks.moved?.(to)
        }
      if (prop === 'list')
        return (prefix: string) =>
          (async function* () {
            await hooks.list?.(prefix)
            yield* target.list(prefix)
          })()
      const value = Reflect.get(target, prop, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

describe('gc emptying a repository while an upload finishes', () => {
  it('waits for the publish: the repository keeps its new blob', async () => {
    const root = await tempDir()
    roots.push(root)
    const repo = 'fresh'
    const blob = Buffer.from('the first blob of a new repository')
    // The upload's rename into blobs/ is held open; the repository exists, empty, meanwhile.
    // Publishing holds the repository's lock, so a GC pass started now must wait for it rather
    // than find an empty repository and remove it under the arriving blob.
    let reachedMove!: () => void
    const atMove = new Promise<void>((resolve) => (reachedMove = resolve))
    let openMove!: () => void
    const moveOpen = new Promise<void>((resolve) => (openMove = resolve))
    const driver = gated(new FsDriver({ root, commit: false }), {
      async move(to) {
        if (!to.startsWith(layoutKeys.blobAlgorithmDir(repo, 'sha256'))) return
        reachedMove()
        await moveOpen
      },
      moved: () => {},
      async list() {},
    })
    const storage = await ownStorage({
      driver,
      localRoot: root,
      commit: false,
      log: () => {},
      holder: 'test',
    })
    const app = createApp({ registry: storage.registry, logger: silentLogger })
    const request = (path: string, init?: RequestInit) => Promise.resolve(app.request(path, init))
    try {
      const upload = pushBlob(request, repo, blob)
      await atMove
      let gcDone = false
      const gc = collectGarbage(storage.registry, repo, gcPolicy()).then((r) => {
        gcDone = true
        return r
      })
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r))
      assert.equal(gcDone, false, 'GC ran while the blob was being published')
      openMove()
      assert.equal(await upload, sha256(blob))
      const result = await gc
      assert.equal(result.repositoryRemoved, false)
      assert.deepEqual(await catalog(request), [repo])
      const got = await request(`/v2/${repo}/blobs/${sha256(blob)}`)
      assert.deepEqual(Buffer.from(await got.arrayBuffer()), blob)
    } finally {
      await storage.close()
    }
  })
})
