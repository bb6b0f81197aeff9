// Mirrored content is pinned: the pull-through cache's maxSize eviction never removes it, and its
// start-up accounting neither counts it nor parses its manifests. Content pulled through (here:
// pushed straight into the store, as an earlier run's cache would have left it) still goes.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, it } from 'node:test'
import { runMirrorPass } from '../src/upstream/mirror/index.js'
import { RegistryRouter } from '../src/registry/index.js'
import { Evictor } from '../src/upstream/evictor.js'
import { PullLedger } from '../src/upstream/pull-ledger.js'
import { inMemoryRegistry, pushImage as pushLocal, socketServer } from './helpers/harness.js'
import {
  countingPacer,
  mirrorDeps,
  platformImage,
  pushImage,
  upstreamSettings,
} from './helpers/mirror-fixture.js'

const seed = process.env.OUTPOST_TEST_SEED ?? randomBytes(8).toString('hex')
console.log(`mirror-pin.test.ts: OUTPOST_TEST_SEED=${seed}`)
const cleanups: Array<() => Promise<unknown>> = []
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {})
})

it('maxSize eviction removes pulled-through images and leaves mirrored ones', async () => {
  const server = await socketServer()
  cleanups.push(() => server.close())
  const mirrored = platformImage(seed, 'pinned', 'arm64', [5000])
  await pushImage(server.url, 'hub/app', mirrored, 'v1')
  const reg = await inMemoryRegistry()
  cleanups.push(() => reg.close())
  const settings = upstreamSettings(server.url, [{ prefix: 'hub/**' }])
  const deps = mirrorDeps(reg.storage.registry, settings, countingPacer())
  assert.equal((await runMirrorPass(deps, settings)).images.copied, 1)
  deps.client.close()
  const cached = platformImage(seed, 'cached', 'arm64', [5000])
  assert.equal((await pushLocal(reg.request, 'hub/app', cached, 'v2')).status, 201)

  const router = new RegistryRouter(reg.storage.registry)
  const ledger = new PullLedger(0)
  const evictor = new Evictor({
    router,
    ledger,
    log: () => {},
    fetching: () => false,
    evicted: () => {},
  })
  await evictor.countCached(() => true)
  assert.equal(ledger.total, 0, 'everything unpinned went; pinned content never counted')
  const status = async (ref: string) =>
    (
      await reg.request(`/v2/hub/app/manifests/${ref}`, {
        headers: { Accept: mirrored.mediaType },
      })
    ).status
  assert.equal(await status('v1'), 200, 'the mirrored image stays')
  assert.equal(await status(cached.digest), 404, 'the pulled-through image was evicted')
  const layer = JSON.parse(mirrored.manifest.toString()).layers[0].digest
  assert.equal((await reg.request(`/v2/hub/app/blobs/${layer}`)).status, 200)
})
