// content.platforms on an on-demand registry (issue 15), against a real upstream (Debian's
// docker-registry) behind a proxy that counts every request: pull-through serves and stores a
// two-platform index as the upstream's bytes, fetches only the linux/arm64 child and its blobs,
// and answers 404 MANIFEST_UNKNOWN for the amd64 child without asking the upstream — from a
// pending index, from the store after a restart with the upstream down, and for an index the
// periodic mirror stored on a registry that is both on demand and periodic. Layer bytes are
// seeded: set OUTPOST_TEST_SEED to replay a run.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, it } from 'node:test'
import { resolveSync, syncSchema } from '../src/config/sync.js'
import { ABSENT_CHILDREN } from '../src/layout/index.js'
import { scratchDirs, sha256, socketServer, type TestImage } from './helpers/harness.js'
import { missingTools, skopeoCopy } from './helpers/images.js'
import { OCI_INDEX, pushTwoPlatformIndex } from './helpers/mirror-fixture.js'
import { suiteNeeding } from './helpers/suite.js'
import { countingProxy, startRegistry } from './helpers/upstream.js'

const reason = await missingTools('docker-registry')
const noSkopeo = await missingTools('skopeo')
const seed = process.env.OUTPOST_TEST_SEED ?? randomBytes(8).toString('hex')
console.log(`pull-through-platforms.test.ts: OUTPOST_TEST_SEED=${seed}`)
const dir = scratchDirs()
const cleanups: Array<() => Promise<unknown>> = []
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {})
})

const REPO = 'app/multi'
const ACCEPT = [OCI_INDEX, 'application/vnd.oci.image.manifest.v1+json'].join(', ')

/** A docker-registry holding a two-platform index under app/multi:1.0, behind a counting proxy. */
async function upstream() {
  const up = await startRegistry(await dir())
  cleanups.push(() => up.stop())
  const { amd64, arm64, index } = await pushTwoPlatformIndex(up.url, seed, REPO, '1.0')
  const proxy = await countingProxy(up.url)
  cleanups.push(() => proxy.close())
  const hex = (d: string) => d.slice('sha256:'.length)
  const parts = (img: TestImage) => [img.digest, sha256(img.config), ...img.layers.map(sha256)]
  return {
    up,
    proxy,
    amd64,
    arm64,
    index,
    indexDigest: sha256(index),
    /** requests the upstream saw for the amd64 manifest or any of its blobs */
    amd64Requests: () => parts(amd64).reduce((n, d) => n + proxy.requests(new RegExp(hex(d))), 0),
    async stop() {
      await proxy.close()
      await up.stop()
    },
  }
}

/** An Outpost pulling through `url` with content [{ prefix: '**', platforms: linux/arm64 }]. */
async function outpost(url: string, root: string, extra: Record<string, unknown> = {}) {
  const raw = {
    enable: true,
    registries: [
      {
        urls: [url],
        onDemand: true,
        tlsVerify: false,
        maxRetries: 1,
        retryDelay: '10ms',
        content: [{ prefix: '**', platforms: ['linux/arm64'] }],
        ...extra,
      },
    ],
  }
  const server = await socketServer(root, {}, { sync: resolveSync(syncSchema.parse(raw)) })
  cleanups.push(() => server.close())
  return server
}

async function get(base: string, path: string, method = 'GET') {
  const res = await fetch(`${base}${path}`, { method, headers: { Accept: ACCEPT } })
  return {
    status: res.status,
    digest: res.headers.get('docker-content-digest'),
    bytes: Buffer.from(await res.arrayBuffer()),
  }
}

async function assertLeftOut(base: string, digest: string, what: string) {
  assert.equal((await get(base, `/v2/${REPO}/manifests/${digest}`, 'HEAD')).status, 404, what)
  const res = await get(base, `/v2/${REPO}/manifests/${digest}`)
  assert.equal(res.status, 404, `${what}: ${res.bytes}`)
  assert.equal(JSON.parse(res.bytes.toString()).errors[0].code, 'MANIFEST_UNKNOWN', what)
}

/** The index by tag and by digest (the upstream's bytes), the arm64 image whole. */
async function assertChosen(base: string, u: Awaited<ReturnType<typeof upstream>>, what: string) {
  for (const ref of ['1.0', u.indexDigest]) {
    const res = await get(base, `/v2/${REPO}/manifests/${ref}`)
    assert.equal(res.status, 200, `${what}: index ${ref}`)
    assert.deepEqual(res.bytes, u.index, `${what}: the upstream's index bytes`)
    assert.equal(res.digest, u.indexDigest, what)
  }
  const child = await get(base, `/v2/${REPO}/manifests/${u.arm64.digest}`)
  assert.equal(child.status, 200, `${what}: the arm64 manifest`)
  assert.deepEqual(child.bytes, u.arm64.manifest, what)
  for (const blob of [u.arm64.config, ...u.arm64.layers]) {
    const res = await get(base, `/v2/${REPO}/blobs/${sha256(blob)}`)
    assert.equal(res.status, 200, `${what}: an arm64 blob`)
    assert.equal(sha256(res.bytes), sha256(blob), what)
  }
}

/** index.json's entry for tag 1.0 once stored, with the children it records absent. */
async function storedIndex(root: string) {
  const doc = JSON.parse(await readFile(join(root, REPO, 'index.json'), 'utf8').catch(() => '{}'))
  return (doc.manifests ?? []).find(
    (m: { annotations?: Record<string, string> }) =>
      m.annotations?.['org.opencontainers.image.ref.name'] === '1.0',
  ) as { digest: string; annotations: Record<string, string> } | undefined
}

async function eventually<T>(check: () => Promise<T | undefined>, what: string): Promise<T> {
  // Bounded by count, not wall time: the store happens right after the last blob lands.
  for (let i = 0; i < 400; i++) {
    const found = await check()
    if (found) return found
    await new Promise((r) => setTimeout(r, 50))
  }
  assert.fail(`timed out waiting for ${what}`)
}

suiteNeeding('pull-through with content.platforms against docker-registry', reason, () => {
  it('takes only the chosen platform; the index keeps its digest; served from the store with the upstream gone', async () => {
    const u = await upstream()
    const root = await dir()
    const server = await outpost(u.proxy.url, root)

    // The index first, as a client pulls: the left-out child is refused while it is pending.
    const index = await get(server.url, `/v2/${REPO}/manifests/1.0`)
    assert.equal(index.status, 200)
    assert.deepEqual(index.bytes, u.index)
    assert.equal(index.digest, u.indexDigest)
    await assertLeftOut(server.url, u.amd64.digest, 'amd64 while the index is pending')
    await assertChosen(server.url, u, 'pulled through')

    // Stored as the upstream's bytes once the arm64 image is, with amd64 recorded absent.
    const entry = await eventually(storedIndex.bind(null, root), 'the index to be stored')
    assert.equal(entry.digest, u.indexDigest)
    assert.equal(entry.annotations[ABSENT_CHILDREN], u.amd64.digest)
    const bytes = await readFile(join(root, REPO, 'blobs/sha256', u.indexDigest.slice(7)))
    assert.deepEqual(bytes, u.index)
    await assertLeftOut(server.url, u.amd64.digest, 'amd64 with the index stored')
    assert.equal(u.amd64Requests(), 0, 'the upstream saw no request for amd64 or its blobs')

    // Upstream gone, then a restart (nothing pending in memory): all from the store.
    await u.stop()
    await assertChosen(server.url, u, 'upstream down')
    await assertLeftOut(server.url, u.amd64.digest, 'amd64 with the upstream down')
    await server.close()
    const again = await outpost(u.proxy.url, root)
    await assertChosen(again.url, u, 'after a restart, upstream down')
    // 404 from the absent record, not 503: the upstream is not asked.
    await assertLeftOut(again.url, u.amd64.digest, 'amd64 after a restart')
  })

  it('on demand and periodic: a child the mirror left out is 404, not pulled through', async () => {
    const u = await upstream()
    const root = await dir()
    const server = await outpost(u.proxy.url, root, { pollInterval: '1h' })
    // The mirror's first pass (a second after start) stores the index with amd64 absent.
    const entry = await eventually(storedIndex.bind(null, root), 'the mirror to store the index')
    assert.equal(entry.annotations[ABSENT_CHILDREN], u.amd64.digest)
    await assertLeftOut(server.url, u.amd64.digest, 'amd64 left out by the mirror')
    await assertChosen(server.url, u, 'mirrored')
    assert.equal(u.amd64Requests(), 0, 'the upstream saw no request for amd64 or its blobs')
  })

  it('skopeo copies the chosen platform through pull-through; the other is unknown', async (t) => {
    if (noSkopeo) return t.skip('needs skopeo')
    const u = await upstream()
    const server = await outpost(u.proxy.url, await dir())
    const host = new URL(server.url).host
    const work = await dir()
    const copy = (arch: string) =>
      skopeoCopy(
        `docker://${host}/${REPO}:1.0`,
        `oci:${join(work, arch)}:1.0`,
        '--src-tls-verify=false',
        '--preserve-digests',
        '--override-os=linux',
        `--override-arch=${arch}`,
      )
    await copy('arm64')
    const layout = JSON.parse(await readFile(join(work, 'arm64', 'index.json'), 'utf8'))
    assert.equal(layout.manifests[0].digest, u.arm64.digest, 'the upstream arm64 image, unchanged')
    await assert.rejects(copy('amd64'), /manifest unknown/i)
    assert.equal(u.amd64Requests(), 0, 'the upstream saw no request for amd64 or its blobs')
  })
})
