// The periodic mirror's engine (src/upstream/mirror) against real upstreams on 127.0.0.1: another
// Outpost, and CNCF distribution (Debian docker-registry). Filters (prefix, tags regex /
// excludeRegex / semver, destination + stripPrefix, platforms), the partial index (the
// upstream's digest kept, the left-out child 404 MANIFEST_UNKNOWN, GC and scrub content with it),
// referrers byte-identical (referrers API, referrers tag schema, cosign tag), a second pass that
// fetches nothing, a tag moved upstream re-fetched and one deleted upstream kept, a dry run that
// writes nothing. Layer bytes are seeded: set OUTPOST_TEST_SEED to replay a run.
import { scrubRegistryRepository } from '../src/scrub/index.js'
import { collectGarbage } from '../src/gc/index.js'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, it } from 'node:test'
import { runMirrorPass } from '../src/upstream/mirror/index.js'
import { platformsOf } from '../src/upstream/mirror-selection.js'
import { inMemoryRegistry, scratchDirs, socketServer } from './helpers/harness.js'
import { missingTools } from './helpers/images.js'
import {
  countingPacer,
  mirrorDeps,
  pushFixture,
  pushImage,
  platformImage,
  upstreamSettings,
  type Fixture,
} from './helpers/mirror-fixture.js'
import { suiteNeeding } from './helpers/suite.js'
import { countingProxy, startRegistry } from './helpers/upstream.js'

const seed = process.env.OUTPOST_TEST_SEED ?? randomBytes(8).toString('hex')
console.log(`mirror.test.ts: OUTPOST_TEST_SEED=${seed}`)

const noRegistry = await missingTools('docker-registry')
const dir = scratchDirs()
const cleanups: Array<() => Promise<unknown>> = []
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {})
})

const ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ')

async function local() {
  const reg = await inMemoryRegistry()
  cleanups.push(() => reg.close())
  const get = async (path: string) => {
    const res = await reg.request(path, { headers: { Accept: ACCEPT } })
    return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), res }
  }
  return { reg, get }
}

/** Every check of a mirror of `fx` taken with platforms linux/arm64 and referrers on. */
async function checkArm64Mirror(
  get: Awaited<ReturnType<typeof local>>['get'],
  fx: Fixture,
  repo = 'app/multi',
) {
  const index = await get(`/v2/${repo}/manifests/1.0`)
  assert.equal(index.status, 200)
  assert.deepEqual(index.bytes, fx.index, 'the index is stored as the upstream bytes')
  assert.equal(index.res.headers.get('docker-content-digest'), fx.indexDigest)
  assert.equal((await get(`/v2/${repo}/manifests/${fx.arm64.digest}`)).status, 200)
  const absent = await get(`/v2/${repo}/manifests/${fx.amd64.digest}`)
  assert.equal(absent.status, 404)
  assert.equal(JSON.parse(absent.bytes.toString()).errors[0].code, 'MANIFEST_UNKNOWN')
  const amdLayer = JSON.parse(fx.amd64.manifest.toString()).layers[0].digest
  assert.equal((await get(`/v2/${repo}/blobs/${amdLayer}`)).status, 404, 'no amd64 layer fetched')
  const armLayer = JSON.parse(fx.arm64.manifest.toString()).layers[0].digest
  assert.equal((await get(`/v2/${repo}/blobs/${armLayer}`)).status, 200)
  // Referrers byte-identical: through the referrers API and the cosign tag.
  const refs = JSON.parse((await get(`/v2/${repo}/referrers/${fx.indexDigest}`)).bytes.toString())
  assert.deepEqual(
    refs.manifests.map((m: { digest: string }) => m.digest),
    [fx.signature.digest],
  )
  assert.deepEqual(
    (await get(`/v2/${repo}/manifests/${fx.signature.digest}`)).bytes,
    fx.signature.manifest,
  )
  const sigTag = `${fx.indexDigest.replace(':', '-')}.sig`
  assert.deepEqual((await get(`/v2/${repo}/manifests/${sigTag}`)).bytes, fx.cosign.manifest)
  if (fx.referrersTag) {
    const tagged = await get(`/v2/${repo}/manifests/${fx.indexDigest.replace(':', '-')}`)
    assert.deepEqual(tagged.bytes, fx.referrersTag)
  }
}

async function tagsOf(get: Awaited<ReturnType<typeof local>>['get'], repo: string) {
  const res = await get(`/v2/${repo}/tags/list`)
  return res.status === 200 ? (JSON.parse(res.bytes.toString()).tags as string[]) : []
}

for (const kind of ['outpost', 'docker-registry'] as const) {
  const reason = kind === 'docker-registry' ? noRegistry : false
  suiteNeeding(`mirror pass from ${kind}`, reason, () => {
    let upstreamUrl = ''
    let fx: Fixture
    it('set up the upstream', async () => {
      if (kind === 'outpost') {
        const server = await socketServer(await dir())
        cleanups.push(() => server.close())
        upstreamUrl = server.url
      } else {
        const up = await startRegistry(await dir())
        cleanups.push(() => up.stop())
        upstreamUrl = up.url
      }
      // distribution 2.8 has no referrers API: the referrers tag schema stands in for it.
      fx = await pushFixture(upstreamUrl, seed, { referrersTagSchema: kind === 'docker-registry' })
    })

    it('filters: prefix, regex, excludeRegex, semver; platforms; referrers byte-identical', async () => {
      const { reg, get } = await local()
      const proxy = await countingProxy(upstreamUrl)
      cleanups.push(() => proxy.close())
      const settings = upstreamSettings(proxy.url, [
        { prefix: 'app/one', tags: { regex: '^v', excludeRegex: '-rc', semver: true } },
        { prefix: 'app/multi', platforms: platformsOf(['linux/arm64']) },
      ])
      const pacer = countingPacer()
      const deps = mirrorDeps(reg.storage.registry, settings, pacer)
      const report = await runMirrorPass(deps, settings)
      assert.equal(report.stoppedBy, undefined, JSON.stringify(report))
      assert.deepEqual(report.failures, [])
      assert.deepEqual(await tagsOf(get, 'app/one'), ['v1.0.0'], 'regex, excludeRegex and semver')
      assert.equal((await get('/v2/other/x/tags/list')).status, 404, 'prefix leaves other/x out')
      await checkArm64Mirror(get, fx)
      assert.equal(report.bytes, pacer.taken, 'every byte went through the pacer')
      assert.ok(report.images.copied >= 2)

      // Second pass: nothing fetched (no manifest GET, no blob GET).
      const before = { blobs: proxy.count(/\/blobs\//), manifests: proxy.count(/\/manifests\//) }
      const again = await runMirrorPass(deps, settings)
      assert.deepEqual(again.images.copied, 0)
      assert.equal(again.bytes, 0)
      assert.equal(proxy.count(/\/blobs\//), before.blobs, 'no blob fetched twice')
      assert.equal(proxy.count(/\/manifests\//), before.manifests, 'no manifest GET (HEAD only)')

      // GC and scrub accept the partial index.
      const gc = await collectGarbage(reg.storage.registry, 'app/multi', {
        delayMs: 0,
        manifestDelayMs: 0,
        deleteUntagged: true,
        deleteReferrers: true,
        dryRun: false,
        retentionDryRun: false,
      })
      assert.deepEqual(gc.blobs, [])
      const scrub = await scrubRegistryRepository(reg.storage.registry, 'app/multi', {
        pace: async () => {},
        memo: new Map(),
        shouldStop: () => false,
      })
      assert.deepEqual(scrub.affected, [])
      await checkArm64Mirror(get, fx)
      deps.client.close()
    })

    it('destination and stripPrefix; a moved tag re-fetched, a deleted one kept; dry run writes nothing', async () => {
      const { reg, get } = await local()
      const settings = upstreamSettings(upstreamUrl, [
        {
          prefix: 'app/**',
          destination: '/edge',
          stripPrefix: true,
          tags: { regex: '^latest$', semver: false },
        },
      ])
      const deps = mirrorDeps(reg.storage.registry, settings, countingPacer())
      const dry = await runMirrorPass(deps, settings, { dryRun: true })
      assert.deepEqual(
        dry.planned!.map((p) => `${p.repo}:${p.reference}`),
        ['edge/one:latest'],
      )
      assert.ok(dry.planned![0].bytes > fx.one.latest.layers[0].length)
      assert.equal((await get('/v2/edge/one/tags/list')).status, 404, 'the dry run wrote nothing')
      assert.deepEqual(await reg.storage.registry.repositories(), [])

      await runMirrorPass(deps, settings)
      assert.deepEqual((await get('/v2/edge/one/manifests/latest')).bytes, fx.one.latest.manifest)
      // Move `latest` upstream: the next pass takes the new image.
      const moved = platformImage(seed, 'one/latest-moved', 'amd64')
      await pushImage(upstreamUrl, 'app/one', moved, 'latest')
      const second = await runMirrorPass(deps, settings)
      assert.equal(second.images.copied, 1)
      assert.deepEqual((await get('/v2/edge/one/manifests/latest')).bytes, moved.manifest)
      // Delete it upstream: kept here.
      const del = await fetch(`${upstreamUrl}/v2/app/one/manifests/${moved.digest}`, {
        method: 'DELETE',
      })
      assert.equal(del.status, 202)
      const third = await runMirrorPass(deps, settings)
      assert.deepEqual(third.failures, [])
      assert.deepEqual((await get('/v2/edge/one/manifests/latest')).bytes, moved.manifest)
      deps.client.close()
    })
  })
}
