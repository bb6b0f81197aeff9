// The periodic mirror over a bad link and a bad day: an uplink that cuts every connection after
// 1 MiB (large blobs arrive intact, resumed with Range), a pass killed with SIGKILL mid-blob and
// run again (nothing half-visible, the cut blob continues from its staged prefix, verified blobs
// never fetched again), an upstream down for a whole pass (nothing changes, the report says why),
// and a full disk (the pass stops with stoppedBy 'disk-full'). Layer bytes are seeded: set
// OUTPOST_TEST_SEED to replay a run.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { after, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { runMirrorPass } from '../src/upstream/mirror/index.js'
import { cuttingProxy } from './helpers/cutting-proxy.js'
import { LoopMount, powerCutUnavailable } from './helpers/durability.js'
import { haveCommand, inMemoryRegistry, scratchDirs, socketServer } from './helpers/harness.js'
import {
  countingPacer,
  mirrorDeps,
  platformImage,
  pushImage,
  upstreamSettings,
} from './helpers/mirror-fixture.js'

const MiB = 1 << 20
const seed = process.env.OUTPOST_TEST_SEED ?? randomBytes(8).toString('hex')
console.log(`mirror-resume.test.ts: OUTPOST_TEST_SEED=${seed}`)
const noLoop = await powerCutUnavailable(await haveCommand('xfs_io'))
const dir = scratchDirs()
const cleanups: Array<() => Promise<unknown>> = []
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {})
})

async function upstream() {
  const server = await socketServer(await dir())
  cleanups.push(() => server.close())
  return server.url
}

const get = (reg: Awaited<ReturnType<typeof inMemoryRegistry>>, path: string) =>
  reg.request(path, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })

it('through a link cut after every 1 MiB a 6 MiB layer arrives intact, resumed with Range', async () => {
  const url = await upstream()
  const image = platformImage(seed, 'big', 'arm64', [6 * MiB, 1000])
  await pushImage(url, 'big/app', image, 'v1')
  const proxy = await cuttingProxy(url, MiB)
  cleanups.push(() => proxy.close())
  const reg = await inMemoryRegistry()
  cleanups.push(() => reg.close())
  const settings = upstreamSettings(proxy.url, [{ prefix: 'big/**' }])
  const pacer = countingPacer()
  const deps = mirrorDeps(reg.storage.registry, settings, pacer)
  const report = await runMirrorPass(deps, settings)
  assert.deepEqual(report.failures, [])
  assert.equal(report.images.copied, 1)
  const layer = JSON.parse(image.manifest.toString()).layers[0].digest
  const blob = await get(reg, `/v2/big/app/blobs/${layer}`)
  assert.deepEqual(Buffer.from(await blob.arrayBuffer()), image.layers[0])
  const ranges = proxy.ranges(new RegExp(layer.slice(7)))
  assert.ok(ranges.length >= 5, `resumed with Range (${ranges.length}: ${ranges.join(' ')})`)
  for (const r of ranges) assert.match(r, /^bytes=[1-9]\d*-$/)
  assert.ok(pacer.taken >= 6 * MiB && pacer.taken < 6 * MiB + 64 * 1024, 'each byte paced once')
  deps.client.close()
})

it('kill -9 mid-pass, then again: nothing half-visible, the cut blob resumes from its staged prefix', async () => {
  const url = await upstream()
  const image = platformImage(seed, 'killed', 'arm64', [2000, 8 * MiB])
  await pushImage(url, 'k/app', image, 'v1')
  // A proxy that never cuts: it only records what was asked for, across both runs.
  const proxy = await cuttingProxy(url, Number.MAX_SAFE_INTEGER)
  cleanups.push(() => proxy.close())
  const root = await dir()
  const holdAfter = 3 * MiB
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      fileURLToPath(new URL('./helpers/mirror-child.ts', import.meta.url)),
      JSON.stringify({ root, url: proxy.url, prefix: 'k/**', holdAfter }),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const exited = new Promise((resolve) => child.once('exit', resolve))
  let out = ''
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d
      if (out.includes('hold')) resolve()
    })
    child.once('exit', () => reject(new Error(`child ended before holding: ${out}`)))
  })
  // The bytes it took are staged once the write caught up with them (bounded by count).
  const uploads = join(root, 'k/app/.uploads')
  const staged = async () => {
    let size = 0
    for (const f of await readdir(uploads).catch(() => []))
      size += (await stat(join(uploads, f))).size
    return size
  }
  for (let i = 0; i < 2000 && (await staged()) < holdAfter - 2 * MiB; i++) {
    await new Promise((r) => setTimeout(r, 5))
  }
  const prefix = await staged()
  assert.ok(prefix > 0, 'a prefix of the big layer was staged')
  child.kill('SIGKILL')
  await exited

  const reg = await inMemoryRegistry({ root })
  cleanups.push(() => reg.close())
  // Nothing half-visible: neither the tag, the manifest nor the cut blob.
  const [small, big] = JSON.parse(image.manifest.toString()).layers.map(
    (l: { digest: string }) => l.digest,
  ) as string[]
  assert.equal((await get(reg, '/v2/k/app/manifests/v1')).status, 404)
  assert.equal((await get(reg, `/v2/k/app/manifests/${image.digest}`)).status, 404)
  assert.equal((await get(reg, `/v2/k/app/blobs/${big}`)).status, 404)
  assert.equal((await get(reg, `/v2/k/app/blobs/${small}`)).status, 200, 'verified before the kill')

  const settings = upstreamSettings(proxy.url, [{ prefix: 'k/**' }])
  const deps = mirrorDeps(reg.storage.registry, settings, countingPacer())
  const report = await runMirrorPass(deps, settings)
  assert.deepEqual(report.failures, [])
  assert.equal(report.images.copied, 1)
  const manifest = await get(reg, '/v2/k/app/manifests/v1')
  assert.deepEqual(Buffer.from(await manifest.arrayBuffer()), image.manifest)
  const blob = await get(reg, `/v2/k/app/blobs/${big}`)
  assert.deepEqual(Buffer.from(await blob.arrayBuffer()), image.layers[1])
  // The cut blob went on from at least the prefix staged before the kill; nothing else twice.
  const ranges = proxy.ranges(new RegExp(big.slice(7)))
  assert.equal(ranges.length, 1, `one Range request: ${ranges.join(' ')}`)
  assert.ok(Number(/^bytes=(\d+)-$/.exec(ranges[0])![1]) >= prefix, ranges[0])
  const fetched = (d: string) =>
    proxy.requests.filter((r) => r.method === 'GET' && r.path.includes(`/blobs/${d}`)).length
  assert.equal(fetched(small), 1, 'a verified blob is never fetched again')
  assert.equal(fetched(`sha256:${JSON.parse(image.manifest.toString()).config.digest.slice(7)}`), 1)
  deps.client.close()
})

it('upstream down for the whole pass: nothing local changes, the report says why', async () => {
  const url = await upstream()
  await pushImage(url, 'd/app', platformImage(seed, 'down', 'arm64'), 'v1')
  const proxy = await cuttingProxy(url, Number.MAX_SAFE_INTEGER)
  const reg = await inMemoryRegistry()
  cleanups.push(() => reg.close())
  const settings = upstreamSettings(proxy.url, [{ prefix: 'd/**' }])
  const deps = mirrorDeps(reg.storage.registry, settings, countingPacer())
  await proxy.close()
  const report = await runMirrorPass(deps, settings)
  assert.equal(report.stoppedBy, 'upstream-unreachable')
  assert.match(report.reason!, /upstream 127\.0\.0\.1:\d+/)
  assert.equal(report.bytes, 0)
  assert.deepEqual(await reg.storage.registry.repositories(), [])
  deps.client.close()
})

it('a full disk stops the pass cleanly with stoppedBy disk-full', { skip: noLoop }, async () => {
  const url = await upstream()
  const image = platformImage(seed, 'full', 'arm64', [24 * MiB])
  await pushImage(url, 'f/app', image, 'v1')
  // Disposed here, not in after(): the harness removes its temporary directories first.
  const loop = await LoopMount.create(16)
  try {
    const reg = await inMemoryRegistry({ root: loop.dir })
    const settings = upstreamSettings(url, [{ prefix: 'f/**' }])
    const deps = mirrorDeps(reg.storage.registry, settings, countingPacer())
    try {
      const report = await runMirrorPass(deps, settings)
      assert.equal(report.stoppedBy, 'disk-full', JSON.stringify(report))
      assert.match(report.reason!, /full/)
      assert.equal((await get(reg, '/v2/f/app/manifests/v1')).status, 404)
    } finally {
      deps.client.close()
      await reg.close()
    }
  } finally {
    await loop.dispose()
  }
})
