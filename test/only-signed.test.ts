// zot's onlySigned (extensions.sync.registries[]) against real upstreams on 127.0.0.1: another
// Outpost (referrers API) and CNCF distribution (Debian docker-registry: no referrers API, the
// referrers tag schema instead). Signed: a cosign-style `sha256-<hex>.sig` tag, a notation
// referrer (artifactType application/vnd.cncf.notary.signature), a sigstore-bundle referrer on
// an index's own digest. Not signed: no referrer at all, or only an SBOM. The mirror copies the
// signed ones with their signatures and skips the rest (recorded as skipped, not failed);
// pull-through serves the signed ones and answers 404 MANIFEST_UNKNOWN for the others, while a
// copy stored before onlySigned was set is still served. Layer bytes are seeded: set
// OUTPOST_TEST_SEED to replay a run.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, it } from 'node:test'
import { resolveSync, syncSchema } from '../src/config/sync.js'
import { runMirrorPass } from '../src/upstream/mirror/index.js'
import { absentAsUndefined } from '../src/upstream/evictor.js'
import { NOTATION_SIGNATURE } from '../src/upstream/signatures.js'
import {
  imageOf,
  inMemoryRegistry,
  scratchDirs,
  sha256 as digestOf,
  socketServer,
  type TestImage,
} from './helpers/harness.js'
import { missingTools } from './helpers/images.js'
import {
  countingPacer,
  mirrorDeps,
  OCI_INDEX,
  platformImage,
  pushImage,
  seededBytes,
  upstreamSettings,
} from './helpers/mirror-fixture.js'
import { suiteNeeding } from './helpers/suite.js'
import { countingProxy, pushToUpstream, startRegistry } from './helpers/upstream.js'

const seed = process.env.OUTPOST_TEST_SEED ?? randomBytes(8).toString('hex')
console.log(`only-signed.test.ts: OUTPOST_TEST_SEED=${seed}`)

const noRegistry = await missingTools('docker-registry')
const dir = scratchDirs()
const cleanups: Array<() => Promise<unknown>> = []
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {})
})

const SIGSTORE_BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json'
const ACCEPT = ['application/vnd.oci.image.manifest.v1+json', OCI_INDEX].join(', ')

interface SignedFixture {
  /** edge/app tags -> image */
  app: Record<'signed' | 'unsigned' | 'notation' | 'sbom-only', TestImage>
  /** the manifest behind `sha256-<hex of signed>.sig` */
  cosign: TestImage
  notation: TestImage
  sbom: TestImage
  /** edge/multi:1.0, signed through a sigstore-bundle referrer of the index's digest */
  index: { bytes: Buffer; digest: string; children: TestImage[]; bundle: TestImage }
}

const sigTag = (digest: string) => `${digest.replace(':', '-')}.sig`

/** A referrer of `subject` (image-spec manifest.md "subject"), pushed by digest. */
function referrer(label: string, artifactType: string, subject: TestImage | Buffer): TestImage {
  const bytes = Buffer.isBuffer(subject) ? subject : subject.manifest
  const mediaType = Buffer.isBuffer(subject) ? OCI_INDEX : subject.mediaType
  return imageOf(Buffer.from('{}'), [seededBytes(seed, label, 90)], {
    artifactType,
    subject: { mediaType, digest: digestOf(bytes), size: bytes.length },
  })
}

/**
 * Push the fixture to the upstream at `url`. `tagSchema`: an upstream without the referrers API
 * gets each subject's referrers listed under the referrers tag schema `sha256-<hex>`.
 */
async function pushSigned(url: string, tagSchema: boolean): Promise<SignedFixture> {
  const app = {
    signed: platformImage(seed, 'signed', 'arm64'),
    unsigned: platformImage(seed, 'unsigned', 'arm64'),
    notation: platformImage(seed, 'notation', 'arm64'),
    'sbom-only': platformImage(seed, 'sbom-only', 'arm64'),
  }
  for (const [tag, image] of Object.entries(app)) await pushImage(url, 'edge/app', image, tag)
  const cosign = imageOf(Buffer.from(JSON.stringify({ cosign: app.signed.digest })), [
    seededBytes(seed, 'cosign', 80),
  ])
  await pushImage(url, 'edge/app', cosign, sigTag(app.signed.digest))
  const notation = referrer('notation', NOTATION_SIGNATURE, app.notation)
  const sbom = referrer('sbom', 'application/spdx+json', app['sbom-only'])
  for (const r of [notation, sbom]) await pushImage(url, 'edge/app', r, r.digest)

  const children = [
    platformImage(seed, 'multi/amd64', 'amd64'),
    platformImage(seed, 'multi/arm64', 'arm64'),
  ]
  for (const c of children) await pushImage(url, 'edge/multi', c, c.digest)
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: children.map((c, i) => ({
        mediaType: c.mediaType,
        digest: c.digest,
        size: c.manifest.length,
        platform: { os: 'linux', architecture: ['amd64', 'arm64'][i] },
      })),
    }),
  )
  await pushToUpstream(url, 'edge/multi', [], bytes, OCI_INDEX, '1.0')
  const bundle = referrer('bundle', SIGSTORE_BUNDLE, bytes)
  await pushImage(url, 'edge/multi', bundle, bundle.digest)
  if (tagSchema) {
    await referrersTag(url, 'edge/app', app.notation.digest, [notation], NOTATION_SIGNATURE)
    await referrersTag(url, 'edge/app', app['sbom-only'].digest, [sbom], 'application/spdx+json')
    await referrersTag(url, 'edge/multi', digestOf(bytes), [bundle], SIGSTORE_BUNDLE)
  }
  return {
    app,
    cosign,
    notation,
    sbom,
    index: { bytes, digest: digestOf(bytes), children, bundle },
  }
}

/** distribution-spec "Referrers Tag Schema": the subject's referrers in an index `sha256-<hex>`. */
async function referrersTag(
  url: string,
  repo: string,
  subject: string,
  refs: TestImage[],
  artifactType: string,
) {
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: refs.map((r) => ({
        mediaType: r.mediaType,
        digest: r.digest,
        size: r.manifest.length,
        artifactType,
      })),
    }),
  )
  await pushToUpstream(url, repo, [], index, OCI_INDEX, subject.replace(':', '-'))
}

async function startUpstream(kind: 'outpost' | 'docker-registry'): Promise<string> {
  if (kind === 'outpost') {
    const server = await socketServer(await dir())
    cleanups.push(() => server.close())
    return server.url
  }
  const up = await startRegistry(await dir())
  cleanups.push(() => up.stop())
  return up.url
}

async function getter(request: (path: string, init?: RequestInit) => Promise<Response>) {
  return async (path: string) => {
    const res = await request(path, { headers: { Accept: ACCEPT } })
    const bytes = Buffer.from(await res.arrayBuffer())
    return { status: res.status, bytes, text: bytes.toString() }
  }
}

for (const kind of ['outpost', 'docker-registry'] as const) {
  suiteNeeding(`onlySigned mirror from ${kind}`, kind === 'outpost' ? false : noRegistry, () => {
    it('copies signed images with their signatures, skips unsigned ones, copies one once signed', async () => {
      const url = await startUpstream(kind)
      const fx = await pushSigned(url, kind === 'docker-registry')
      const proxy = await countingProxy(url)
      cleanups.push(() => proxy.close())
      const reg = await inMemoryRegistry()
      cleanups.push(() => reg.close())
      const get = await getter((p, i) => reg.request(p, i))
      const settings = { ...upstreamSettings(proxy.url, [{ prefix: 'edge/**' }]), onlySigned: true }
      const logged: string[] = []
      const deps = mirrorDeps(reg.storage.registry, settings, countingPacer())
      deps.log = (msg) => void logged.push(msg)
      cleanups.push(async () => deps.client.close())

      const report = await runMirrorPass(deps, settings)
      assert.deepEqual(report.failures, [], 'an unsigned image is not a failure')
      assert.equal(report.stoppedBy, undefined)
      assert.deepEqual(report.images, { copied: 3, upToDate: 0, failed: 0, skipped: 2 })
      assert.deepEqual(report.skipped.map((s) => [s.repo, s.reference, s.digest]).sort(), [
        ['edge/app', 'sbom-only', fx.app['sbom-only'].digest],
        ['edge/app', 'unsigned', fx.app.unsigned.digest],
      ])
      for (const s of report.skipped) assert.match(s.reason, /not signed.*onlySigned/)
      assert.ok(logged.includes('mirror: skipping image without mandatory signature'))

      // Signed: copied with their signatures, byte-identical.
      for (const tag of ['signed', 'notation'] as const) {
        const m = await get(`/v2/edge/app/manifests/${tag}`)
        assert.equal(m.status, 200, tag)
        assert.deepEqual(m.bytes, fx.app[tag].manifest)
      }
      const sig = await get(`/v2/edge/app/manifests/${sigTag(fx.app.signed.digest)}`)
      assert.deepEqual(sig.bytes, fx.cosign.manifest, 'the cosign signature came along')
      const refs = JSON.parse((await get(`/v2/edge/app/referrers/${fx.app.notation.digest}`)).text)
      assert.deepEqual(
        refs.manifests.map((m: { digest: string }) => m.digest),
        [fx.notation.digest],
        'the notation signature came along',
      )
      const index = await get('/v2/edge/multi/manifests/1.0')
      assert.deepEqual(index.bytes, fx.index.bytes, 'an index signed on its own digest')
      for (const c of fx.index.children) {
        assert.equal((await get(`/v2/edge/multi/manifests/${c.digest}`)).status, 200)
      }
      assert.equal((await get(`/v2/edge/multi/manifests/${fx.index.bundle.digest}`)).status, 200)
      // Not signed: nothing of them stored (not even the manifest, nor the SBOM).
      for (const tag of ['unsigned', 'sbom-only'] as const) {
        assert.equal((await get(`/v2/edge/app/manifests/${tag}`)).status, 404, tag)
        const layer = JSON.parse(fx.app[tag].manifest.toString()).layers[0].digest
        assert.equal((await get(`/v2/edge/app/blobs/${layer}`)).status, 404, `${tag} layer`)
      }
      assert.equal((await get(`/v2/edge/app/manifests/${fx.sbom.digest}`)).status, 404)

      // The check reuses what copying referrers fetches: no subject's referrers asked twice.
      const subjects = [
        ...Object.values(fx.app).map((i) => i.digest),
        fx.index.digest,
        ...fx.index.children.map((c) => c.digest),
      ]
      for (const s of subjects) {
        assert.ok(proxy.count(new RegExp(`/referrers/${s}`)) <= 1, `referrers of ${s}`)
        const tagSchema = new RegExp(`/manifests/${s.replace(':', '-')}$`)
        assert.ok(proxy.count(tagSchema) <= 1, `referrers tag of ${s}`)
      }

      // Next pass: still skipped (absence of a signature is asked again, never remembered).
      const again = await runMirrorPass(deps, settings)
      assert.deepEqual(again.images, { copied: 0, upToDate: 3, failed: 0, skipped: 2 })
      // Signed upstream after the fact: the next pass copies it.
      const late = imageOf(Buffer.from('{"late":true}'), [seededBytes(seed, 'late', 70)])
      await pushImage(url, 'edge/app', late, sigTag(fx.app.unsigned.digest))
      const third = await runMirrorPass(deps, settings)
      assert.deepEqual(third.images, { copied: 1, upToDate: 3, failed: 0, skipped: 1 })
      assert.deepEqual(
        (await get('/v2/edge/app/manifests/unsigned')).bytes,
        fx.app.unsigned.manifest,
      )
    })
  })
}

it('onlySigned pull-through from an Outpost upstream: signed served, unsigned 404, cached kept', async () => {
  const url = await startUpstream('outpost')
  const fx = await pushSigned(url, false)
  const sync = (onlySigned: boolean) => ({
    sync: resolveSync(
      syncSchema.parse({
        enable: true,
        registries: [
          {
            urls: [url],
            onDemand: true,
            tlsVerify: false,
            maxRetries: 1,
            retryDelay: '10ms',
            onlySigned,
          },
        ],
      }),
    ),
  })
  const root = await dir()
  // A copy stored before onlySigned was set: served as it is afterwards.
  const before = await socketServer(root, {}, sync(false))
  const first = await getter((p, i) => fetch(`${before.url}${p}`, i))
  assert.equal((await first('/v2/edge/app/manifests/unsigned')).status, 200)
  for (const d of [fx.app.unsigned.config, ...fx.app.unsigned.layers]) {
    assert.equal((await first(`/v2/edge/app/blobs/${digestOf(d)}`)).status, 200)
  }
  const registry = before.storage.registry
  for (let i = 0; i < 200; i++) {
    if (await absentAsUndefined(registry.manifests.get('edge/app', 'unsigned'))) break
    await new Promise((r) => setTimeout(r, 25))
  }
  assert.ok(await absentAsUndefined(registry.manifests.get('edge/app', 'unsigned')), 'stored')
  await before.close()

  const server = await socketServer(root, {}, sync(true))
  cleanups.push(() => server.close())
  const get = await getter((p, i) => fetch(`${server.url}${p}`, i))
  const cached = await get('/v2/edge/app/manifests/unsigned')
  assert.equal(cached.status, 200, 'a copy stored already is still served')
  assert.deepEqual(cached.bytes, fx.app.unsigned.manifest)

  // Signed through the cosign tag, a notation referrer, a sigstore bundle on the index digest.
  for (const tag of ['signed', 'notation'] as const) {
    const m = await get(`/v2/edge/app/manifests/${tag}`)
    assert.equal(m.status, 200, `${tag}: ${m.text}`)
    assert.deepEqual(m.bytes, fx.app[tag].manifest)
  }
  const sig = await get(`/v2/edge/app/manifests/${sigTag(fx.app.signed.digest)}`)
  assert.deepEqual(sig.bytes, fx.cosign.manifest, 'the cosign tag itself needs no signature')
  const notation = await get(`/v2/edge/app/manifests/${fx.notation.digest}`)
  assert.deepEqual(notation.bytes, fx.notation.manifest, 'a referrer by digest needs none')
  const index = await get('/v2/edge/multi/manifests/1.0')
  assert.equal(index.status, 200, index.text)
  assert.deepEqual(index.bytes, fx.index.bytes)
  for (const c of fx.index.children) {
    const child = await get(`/v2/edge/multi/manifests/${c.digest}`)
    assert.equal(child.status, 200, `a child of a signed index: ${child.text}`)
  }

  // Not signed: 404 MANIFEST_UNKNOWN naming the reason, by tag and by digest.
  for (const ref of ['sbom-only', fx.app['sbom-only'].digest, fx.app.unsigned.digest]) {
    const res = await get(`/v2/edge/app/manifests/${ref}`)
    if (ref === fx.app.unsigned.digest) {
      assert.equal(res.status, 200, 'stored already: served by digest too')
      continue
    }
    assert.equal(res.status, 404, ref)
    const error = JSON.parse(res.text).errors[0]
    assert.equal(error.code, 'MANIFEST_UNKNOWN')
    assert.match(error.message, /is not signed and onlySigned is set/)
  }
  const fresh = platformImage(seed, 'fresh', 'arm64')
  await pushImage(url, 'edge/app', fresh, 'fresh')
  const res = await get('/v2/edge/app/manifests/fresh')
  assert.equal(res.status, 404)
  assert.match(JSON.parse(res.text).errors[0].message, /not signed and onlySigned is set/)
  const head = await fetch(`${server.url}/v2/edge/app/manifests/${fresh.digest}`, {
    method: 'HEAD',
    headers: { Accept: ACCEPT },
  })
  assert.equal(head.status, 404, 'HEAD by digest too')
  // Signed afterwards: served on the next request (absence is not remembered).
  const late = imageOf(Buffer.from('{"late":1}'), [seededBytes(seed, 'late-pt', 70)])
  await pushImage(url, 'edge/app', late, sigTag(fresh.digest))
  assert.equal((await get('/v2/edge/app/manifests/fresh')).status, 200)
})
