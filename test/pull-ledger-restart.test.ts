// The pull-through ledger across restarts (extensions.sync.maxSize): kept in the engine index, a
// clean restart reads it back without listing or reading anything in the store, with the same
// total and the same LRU order; with the index deleted, one walk rebuilds it and eviction still
// works; pinned (mirrored) content is never counted nor evicted. Upstream: another Outpost on
// 127.0.0.1. The store's driver is wrapped to record every call and the key it names.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { after, it } from 'node:test'
import { resolveSync, syncSchema } from '../src/config/sync.js'
import { INDEX_DB_DIR } from '../src/layout/index.js'
import { FsDriver } from '../src/storage/fs/index.js'
import { createApp } from '../src/http/index.js'
import { silentLogger } from '../src/log/logger.js'
import { Digest, RegistryRouter } from '../src/registry/index.js'
import type { StorageDriver } from '../src/storage/index.js'
import { PullThrough } from '../src/upstream/index.js'
import { inMemoryRegistry, socketServer, tempDir, type TestImage } from './helpers/harness.js'
import { platformImage, pushImage } from './helpers/mirror-fixture.js'

const seed = process.env.OUTPOST_TEST_SEED ?? randomBytes(8).toString('hex')
console.log(`pull-ledger-restart.test.ts: OUTPOST_TEST_SEED=${seed}`)
const cleanups: Array<() => Promise<unknown>> = []
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {})
})

const LAYER = 100_000
/** three images of one 100 kB layer fit, a fourth does not */
const THREE = '350000'

/** An upstream Outpost holding img0..img3 (one layer each) under cache/imgN:v1. */
async function upstream(label: string) {
  const server = await socketServer()
  cleanups.push(() => server.close())
  const images: TestImage[] = []
  for (let i = 0; i < 4; i++) {
    images.push(platformImage(seed, `${label}/${i}`, 'arm64', [LAYER]))
    await pushImage(server.url, `cache/img${i}`, images[i], 'v1')
  }
  return { url: server.url, images }
}

/** One run of a local registry pulling through `url`; driver calls are recorded while open. */
async function run(root: string, url: string, maxSize?: string) {
  const calls: string[] = []
  let recording = false
  const fs = new FsDriver({ root, commit: false })
  const driver = new Proxy(fs, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        if (recording) calls.push(`${String(prop)} ${String(args[0])}`)
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  }) as StorageDriver
  const reg = await inMemoryRegistry({ root, driver })
  const router = new RegistryRouter(reg.storage.registry)
  const sync = {
    enable: true,
    registries: [
      { urls: [url], onDemand: true, tlsVerify: false, maxRetries: 1, retryDelay: '10ms' },
    ],
    ...(maxSize && { maxSize }),
  }
  const settings = resolveSync(syncSchema.parse(sync))
  assert.ok(settings, 'sync enabled')
  recording = true
  const pull = await PullThrough.open(router, settings, () => {})
  recording = false
  const app = createApp({ registry: router, logger: silentLogger, pullThrough: pull })
  const registry = reg.storage.registry
  const has = async (repo: string, ref: string) =>
    registry.manifests.get(repo, ref).then(
      () => true,
      () => false,
    )
  return {
    /** driver calls made while the pull-through cache opened (its start-up accounting) */
    startCalls: calls,
    pull,
    registry,
    has,
    /** Pull an image as a client does, then wait until it is stored and counted. */
    async fetch(repo: string, image: TestImage) {
      const res = await app.request(`/v2/${repo}/manifests/v1`, {
        headers: { Accept: image.mediaType },
      })
      assert.equal(res.status, 200, `${repo}: ${await res.clone().text()}`)
      await res.arrayBuffer()
      const m = JSON.parse(image.manifest.toString())
      for (const d of [m.config, ...m.layers]) {
        const b = await app.request(`/v2/${repo}/blobs/${d.digest}`)
        assert.equal(b.status, 200)
        await b.arrayBuffer()
      }
      // Stored after the response (blob-tee, pending manifests): bounded by count, not time.
      for (let i = 0; i < 500 && !(await has(repo, image.digest)); i++) {
        await new Promise((r) => setTimeout(r, 20))
      }
      assert.ok(await has(repo, image.digest), `${repo} stored`)
    },
    async close() {
      pull.close()
      await reg.close()
    },
  }
}

it('a clean restart reads the ledger from the engine index: no store access, same total', async () => {
  const up = await upstream('clean')
  const root = await tempDir()
  const first = await run(root, up.url, '10MB')
  assert.ok(first.startCalls.length > 0, 'control: the first start counts the (empty) store')
  await first.fetch('cache/img0', up.images[0])
  await first.fetch('cache/img1', up.images[1])
  const total = first.pull.cachedBytes
  assert.ok(total > 2 * LAYER, `counted ${total}`)
  await first.close()

  const second = await run(root, up.url, '10MB')
  cleanups.push(() => second.close())
  assert.deepEqual(second.startCalls, [], 'start-up asked the store nothing')
  assert.equal(second.pull.cachedBytes, total)
})

it('the LRU order survives a restart; recency is written at stop, not per GET', async () => {
  const up = await upstream('lru')
  const root = await tempDir()
  const first = await run(root, up.url, THREE)
  for (let i = 0; i < 3; i++) await first.fetch(`cache/img${i}`, up.images[i])
  const records = first.registry.pullLedgerRecords()
  const recorded = () =>
    [...records.images()].find((r) => r.digest === up.images[0].digest)?.lastUsed
  await new Promise((r) => setTimeout(r, 50)) // let the background writes commit
  const before = recorded()
  assert.ok(before !== undefined, 'img0 is in the engine index')
  await first.fetch('cache/img0', up.images[0]) // img0 is now the most recently used
  await new Promise((r) => setTimeout(r, 50))
  assert.equal(recorded(), before, 'a pull marks the entry; it is not written at once')
  await first.close()

  const second = await run(root, up.url, THREE)
  cleanups.push(() => second.close())
  assert.deepEqual(second.startCalls, [])
  await second.fetch('cache/img3', up.images[3])
  for (let i = 0; i < 500 && (await second.has('cache/img1', 'v1')); i++) {
    await new Promise((r) => setTimeout(r, 20))
  }
  assert.ok(!(await second.has('cache/img1', 'v1')), 'img1, least recently used, went first')
  assert.ok(await second.has('cache/img0', 'v1'), 'img0 was used last before the restart')
  assert.ok(await second.has('cache/img2', 'v1'))
  assert.ok(await second.has('cache/img3', 'v1'))
  assert.ok(second.pull.cachedBytes <= 350_000)
})

it('with the engine index deleted, one walk rebuilds the ledger and eviction works', async () => {
  const up = await upstream('rebuilt')
  const root = await tempDir()
  const first = await run(root, up.url, THREE)
  for (let i = 0; i < 3; i++) await first.fetch(`cache/img${i}`, up.images[i])
  const total = first.pull.cachedBytes
  await first.close()
  await rm(join(root, INDEX_DB_DIR), { recursive: true, force: true })

  const second = await run(root, up.url, THREE)
  assert.ok(
    second.startCalls.some((c) => c.includes('/blobs/')),
    'the walk read the blobs (no ledger to read)',
  )
  assert.equal(second.pull.cachedBytes, total, 'the walk counted what the ledger held')
  await second.fetch('cache/img3', up.images[3])
  let kept = 4
  for (let i = 0; i < 500 && kept > 3; i++) {
    kept = 0
    for (let n = 0; n < 4; n++) if (await second.has(`cache/img${n}`, 'v1')) kept++
    if (kept > 3) await new Promise((r) => setTimeout(r, 20))
  }
  assert.equal(kept, 3, 'one image was evicted')
  assert.ok(await second.has('cache/img3', 'v1'), 'not the one just pulled')
  const after = second.pull.cachedBytes
  assert.ok(after <= 350_000)
  await second.close()

  const third = await run(root, up.url, THREE)
  cleanups.push(() => third.close())
  assert.deepEqual(third.startCalls, [], 'rebuilt once: the next start reads the records')
  assert.equal(third.pull.cachedBytes, after)
})

it('pinned (mirrored) content is neither counted nor evicted after a restart', async () => {
  const up = await upstream('pinned')
  const root = await tempDir()
  const first = await run(root, up.url, '10MB')
  await first.fetch('cache/img0', up.images[0])
  await first.fetch('cache/img1', up.images[1])
  // What a mirror pass does for content it mirrored (src/upstream/mirror pins through Registry.pin).
  const m = JSON.parse(up.images[0].manifest.toString())
  for (const d of [up.images[0].digest, m.config.digest, m.layers[0].digest]) {
    await first.registry.pin('cache/img0', d)
  }
  await first.close()

  const second = await run(root, up.url, '0B')
  cleanups.push(() => second.close())
  assert.equal(second.pull.cachedBytes, 0, 'pinned never counted; the rest evicted')
  assert.ok(await second.has('cache/img0', 'v1'), 'the pinned image stays')
  assert.equal(
    (await second.registry.blobs.stat('cache/img0', Digest.parse(m.layers[0].digest)))?.size,
    LAYER,
  )
  assert.ok(!(await second.has('cache/img1', 'v1')), 'the pulled-through image went')
  const left = [...second.registry.pullLedgerRecords().blobs()].map((r) => r.repo)
  assert.ok(!left.includes('cache/img0'), 'pinned content left the ledger records')
})

it('a run without maxSize drops the kept ledger, so the next bounded start counts anew', async () => {
  const up = await upstream('unbounded')
  const root = await tempDir()
  const first = await run(root, up.url, '10MB')
  await first.fetch('cache/img0', up.images[0])
  await first.close()
  const unbounded = await run(root, up.url)
  await unbounded.fetch('cache/img1', up.images[1])
  await unbounded.close()

  const bounded = await run(root, up.url, '10MB')
  cleanups.push(() => bounded.close())
  assert.ok(
    bounded.startCalls.some((c) => c.includes('/blobs/')),
    'walked: no ledger kept',
  )
  assert.ok(bounded.pull.cachedBytes > 2 * LAYER, 'what the unbounded run pulled counts')
})
