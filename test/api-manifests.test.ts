// Manifests (distribution-spec "Pushing manifests", "Pulling manifests", "Deleting manifests",
// end-3, end-7, end-9): OCI and Docker media types, indexes, limits, validation and tags.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { backendFor, watchKey } from './helpers/backend.js'
import {
  inMemoryRegistry,
  sha256,
  storedKeys,
  tempDir,
  type InMemoryRegistry,
} from './helpers/harness.js'
import {
  bodyBytes,
  descOf,
  expectError,
  imageManifest,
  indexOf,
  MT,
  pushBlob,
  putManifest,
  sha512,
  type Stored,
} from './helpers/api.js'

async function expectManifest(reg: InMemoryRegistry, repo: string, ref: string, m: Stored) {
  const res = await reg.request(`/v2/${repo}/manifests/${ref}`)
  assert.equal(res.status, 200, `GET ${repo}:${ref}`)
  assert.equal(res.headers.get('content-type'), m.desc.mediaType)
  assert.equal(res.headers.get('docker-content-digest'), m.desc.digest)
  assert.equal(res.headers.get('content-length'), String(m.bytes.length))
  assert.deepEqual(await bodyBytes(res), m.bytes, 'exact bytes as pushed')
  const head = await reg.request(`/v2/${repo}/manifests/${ref}`, { method: 'HEAD' })
  assert.equal(head.status, 200)
  assert.equal(head.headers.get('content-type'), m.desc.mediaType)
  assert.equal(head.headers.get('docker-content-digest'), m.desc.digest)
  assert.equal(head.headers.get('content-length'), String(m.bytes.length))
  assert.equal((await bodyBytes(head)).length, 0)
}

async function put(reg: InMemoryRegistry, repo: string, ref: string, m: Stored) {
  const res = await putManifest(reg.request, repo, ref, m.bytes, m.desc.mediaType)
  assert.equal(res.status, 201, await res.clone().text())
  assert.equal(res.headers.get('location'), `/v2/${repo}/manifests/${m.desc.digest}`)
  assert.equal(res.headers.get('docker-content-digest'), m.desc.digest)
  return res
}

async function tags(reg: InMemoryRegistry, repo: string): Promise<string[]> {
  const res = await reg.request(`/v2/${repo}/tags/list`)
  assert.equal(res.status, 200)
  return ((await res.json()) as { tags: string[] }).tags
}

describe('manifests: push and pull', () => {
  let reg: InMemoryRegistry
  before(async () => (reg = await inMemoryRegistry()))
  after(async () => reg.close())

  it('an OCI image manifest pushed by tag is served by tag and by digest', async () => {
    const m = await imageManifest(reg.request, 'm/oci', 'oci', { layers: 2 })
    await put(reg, 'm/oci', 'v1', m)
    await expectManifest(reg, 'm/oci', 'v1', m)
    await expectManifest(reg, 'm/oci', m.desc.digest, m)
    assert.deepEqual(await tags(reg, 'm/oci'), ['v1'])
  })

  it('a manifest pushed by digest is served by digest and has no tag', async () => {
    const m = await imageManifest(reg.request, 'm/bydigest', 'bydigest')
    await put(reg, 'm/bydigest', m.desc.digest, m)
    await expectManifest(reg, 'm/bydigest', m.desc.digest, m)
    assert.deepEqual(await tags(reg, 'm/bydigest'), [])
  })

  it('a Docker v2 schema 2 manifest keeps its media type', async () => {
    const m = await imageManifest(reg.request, 'm/docker', 'docker', { docker: true })
    assert.equal(m.desc.mediaType, MT.dockerManifest)
    await put(reg, 'm/docker', 'latest', m)
    await expectManifest(reg, 'm/docker', 'latest', m)
    await expectManifest(reg, 'm/docker', m.desc.digest, m)
  })

  it('an OCI index over children pushed by digest', async () => {
    const a = await imageManifest(reg.request, 'm/index', 'amd64')
    const b = await imageManifest(reg.request, 'm/index', 'arm64')
    await put(reg, 'm/index', a.desc.digest, a)
    await put(reg, 'm/index', b.desc.digest, b)
    const index = indexOf([a.desc, b.desc])
    await put(reg, 'm/index', 'multi', index)
    await expectManifest(reg, 'm/index', 'multi', index)
    await expectManifest(reg, 'm/index', index.desc.digest, index)
    await expectManifest(reg, 'm/index', a.desc.digest, a)
    await expectManifest(reg, 'm/index', b.desc.digest, b)
  })

  it('a Docker manifest list over Docker manifests', async () => {
    const a = await imageManifest(reg.request, 'm/list', 'docker-a', { docker: true })
    const b = await imageManifest(reg.request, 'm/list', 'docker-b', { docker: true })
    await put(reg, 'm/list', a.desc.digest, a)
    await put(reg, 'm/list', b.desc.digest, b)
    const list = indexOf([a.desc, b.desc], true)
    assert.equal(list.desc.mediaType, MT.dockerList)
    await put(reg, 'm/list', 'v2', list)
    await expectManifest(reg, 'm/list', 'v2', list)
    await expectManifest(reg, 'm/list', list.desc.digest, list)
  })

  it('without a mediaType field the Content-Type decides; its parameters are dropped', async () => {
    const m = await imageManifest(reg.request, 'm/ctype', 'ctype', {
      extra: { mediaType: undefined },
    })
    assert.ok(!m.bytes.includes('"mediaType":"application/vnd.oci.image.manifest'))
    const res = await putManifest(
      reg.request,
      'm/ctype',
      'v1',
      m.bytes,
      `${MT.ociManifest}; charset=utf-8`,
    )
    assert.equal(res.status, 201)
    await expectManifest(reg, 'm/ctype', 'v1', m)
  })

  it('a manifest pushed with a sha512 digest reference is stored under that digest', async () => {
    const m = await imageManifest(reg.request, 'm/sha512', 'sha512')
    const digest = sha512(m.bytes)
    const res = await putManifest(reg.request, 'm/sha512', digest, m.bytes, MT.ociManifest)
    assert.equal(res.status, 201)
    assert.equal(res.headers.get('docker-content-digest'), digest)
    const got = await reg.request(`/v2/m/sha512/manifests/${digest}`)
    assert.equal(got.status, 200)
    assert.deepEqual(await bodyBytes(got), m.bytes)
  })

  it('a manifest with a subject answers OCI-Subject, even when the subject does not exist', async () => {
    const subject = { mediaType: MT.ociManifest, digest: sha256('absent subject'), size: 123 }
    const m = await imageManifest(reg.request, 'm/subject', 'subject', { extra: { subject } })
    const res = await put(reg, 'm/subject', m.desc.digest, m)
    assert.equal(res.headers.get('oci-subject'), subject.digest)
    // A manifest without a subject does not claim one.
    const plain = await imageManifest(reg.request, 'm/subject', 'plain')
    const res2 = await put(reg, 'm/subject', 'plain', plain)
    assert.equal(res2.headers.get('oci-subject'), null)
  })

  it('a manifest of nearly 4 MiB is accepted; one over 4 MiB is 413', async () => {
    const base = await imageManifest(reg.request, 'm/big', 'big')
    const doc = JSON.parse(base.bytes.toString())
    const pad = (total: number) => {
      doc.annotations = { pad: '' }
      const overhead = Buffer.byteLength(JSON.stringify(doc))
      doc.annotations.pad = 'x'.repeat(total - overhead)
      const bytes = Buffer.from(JSON.stringify(doc))
      assert.equal(bytes.length, total)
      return bytes
    }
    const limit = 4 * 1024 * 1024
    const fits = pad(limit)
    const ok = await putManifest(reg.request, 'm/big', 'fits', fits, MT.ociManifest)
    assert.equal(ok.status, 201)
    const got = await reg.request('/v2/m/big/manifests/fits')
    assert.equal(sha256(await bodyBytes(got)), sha256(fits))

    const before = await storedKeys(reg)
    const tooBig = pad(limit + 1)
    const res = await putManifest(reg.request, 'm/big', 'too-big', tooBig, MT.ociManifest)
    await expectError(res, 413, 'SIZE_INVALID')
    assert.deepEqual(await storedKeys(reg), before)
    await expectError(await reg.request('/v2/m/big/manifests/too-big'), 404, 'MANIFEST_UNKNOWN')
  })
})

describe('manifests: refused pushes', () => {
  let reg: InMemoryRegistry
  let config: Buffer
  before(async () => {
    reg = await inMemoryRegistry()
    config = Buffer.from('{"os":"linux"}')
    await pushBlob(reg.request, 'bad/repo', config)
  })
  after(async () => reg.close())

  async function refused(
    body: Buffer | string,
    status: number,
    code: string,
    ref = 'v1',
    type: string = MT.ociManifest,
  ) {
    const before = await storedKeys(reg)
    const res = await putManifest(reg.request, 'bad/repo', ref, Buffer.from(body), type)
    const error = await expectError(res, status, code)
    assert.deepEqual(await storedKeys(reg), before, 'nothing stored')
    return error
  }

  it('bodies that are not a manifest are 400 MANIFEST_INVALID', async () => {
    const cfg = descOf(MT.ociConfig, config)
    const cases: Array<[string, string?]> = [
      ['this is not json'],
      ['{"schemaVersion":2,'],
      ['[1,2,3]'],
      ['null'],
      [JSON.stringify({ schemaVersion: 1, mediaType: MT.ociManifest, config: cfg, layers: [] })],
      [JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, layers: [] })], // no config
      [
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MT.ociManifest,
          config: { ...cfg, digest: 'sha256:zz' },
        }),
      ],
      [
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MT.ociManifest,
          config: { ...cfg, size: -1 },
        }),
      ],
      [JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [] })], // type mismatch
      [JSON.stringify({ schemaVersion: 2, config: cfg, layers: [] }), 'text/plain'], // unknown type
      [
        JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [], layers: [] }),
        MT.ociIndex,
      ],
    ]
    for (const [body, type] of cases) await refused(body, 400, 'MANIFEST_INVALID', 'v1', type)
    await expectError(await reg.request('/v2/bad/repo/manifests/v1'), 404, 'MANIFEST_UNKNOWN')
  })

  it('a manifest that references a missing blob is 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const cfg = descOf(MT.ociConfig, config)
    const missing = descOf(MT.ociLayer, Buffer.from('never pushed'))
    const layerMissing = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: cfg,
      layers: [missing],
    }
    const error = await refused(JSON.stringify(layerMissing), 400, 'MANIFEST_BLOB_UNKNOWN')
    assert.match(error.message, new RegExp(missing.digest))
    const configMissing = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { ...cfg, digest: missing.digest },
      layers: [],
    }
    await refused(JSON.stringify(configMissing), 400, 'MANIFEST_BLOB_UNKNOWN')
    // A blob of another repository does not count.
    const elsewhere = await pushBlob(reg.request, 'bad/other', Buffer.from('other repo blob'))
    const foreign = { ...layerMissing, layers: [{ ...missing, digest: elsewhere, size: 15 }] }
    await refused(JSON.stringify(foreign), 400, 'MANIFEST_BLOB_UNKNOWN')
  })

  it('a descriptor whose size differs from the stored blob is 400 MANIFEST_INVALID', async () => {
    const layer = Buffer.from('a layer whose size the manifest gets wrong')
    const digest = await pushBlob(reg.request, 'bad/repo', layer)
    await pushBlob(reg.request, 'bad/repo', config)
    const lying = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: descOf(MT.ociConfig, config),
      layers: [{ mediaType: MT.ociLayer, digest, size: layer.length + 1 }],
    }
    const error = await refused(JSON.stringify(lying), 400, 'MANIFEST_INVALID')
    assert.match(error.message, new RegExp(`${digest} gives size ${layer.length + 1}`))
  })

  it('an index that references a missing child is 400 MANIFEST_BLOB_UNKNOWN, in old and new repositories', async () => {
    const child = { mediaType: MT.ociManifest, digest: sha256('no such child'), size: 10 }
    const index = indexOf([child])
    await refused(index.bytes, 400, 'MANIFEST_BLOB_UNKNOWN', 'idx', MT.ociIndex)
    // In a repository that does not exist yet, nothing is created either.
    const before = await storedKeys(reg)
    const res = await putManifest(reg.request, 'bad/fresh', 'idx', index.bytes, MT.ociIndex)
    await expectError(res, 400, 'MANIFEST_BLOB_UNKNOWN')
    assert.deepEqual(await storedKeys(reg), before)
    await expectError(await reg.request('/v2/bad/fresh/tags/list'), 404, 'NAME_UNKNOWN')
    // A child that exists only as a blob (not as a manifest) does not count either.
    const list = indexOf([descOf(MT.ociManifest, config)], false)
    await refused(list.bytes, 400, 'MANIFEST_BLOB_UNKNOWN', 'idx2', MT.ociIndex)
  })

  it('PUT by digest with bytes of another digest is 400 DIGEST_INVALID', async () => {
    const m = await imageManifest(reg.request, 'bad/repo', 'digest-mismatch')
    await refused(m.bytes, 400, 'DIGEST_INVALID', sha256('different bytes'))
    await refused(m.bytes, 400, 'DIGEST_INVALID', sha512('different bytes'))
    await refused(m.bytes, 400, 'DIGEST_INVALID', 'sha256:tooshort')
    await refused(m.bytes, 400, 'DIGEST_INVALID', `md5:${'a'.repeat(32)}`)
  })

  it('a reference that is neither a tag nor a digest is 400', async () => {
    const m = await imageManifest(reg.request, 'bad/repo', 'bad-ref')
    for (const ref of ['-leading-dash', '.dot', 'x'.repeat(129)]) {
      await refused(m.bytes, 400, 'MANIFEST_INVALID', ref)
    }
  })
})

/** References that name no manifest Outpost could hold: not a tag, not a valid digest. */
const NOT_A_REFERENCE = [
  '.INVALID_MANIFEST_NAME', // what the OCI conformance suite asks for
  '-leading-dash',
  'x'.repeat(129),
  'sha256:tooshort',
  `sha384:${'a'.repeat(96)}`,
  `md5:${'a'.repeat(32)}`,
]

describe('manifests: a reference that is neither a tag nor a digest', () => {
  let reg: InMemoryRegistry
  before(async () => (reg = await inMemoryRegistry()))
  after(async () => reg.close())

  // distribution-spec "Pulling manifests": a manifest not found is 404, whatever the reference.
  it('GET and HEAD answer 404 MANIFEST_UNKNOWN, in a known repository and an unknown one', async () => {
    const m = await imageManifest(reg.request, 'ref/known', 'known')
    await put(reg, 'ref/known', 'v1', m)
    for (const repo of ['ref/known', 'ref/never-pushed']) {
      for (const ref of NOT_A_REFERENCE) {
        const path = `/v2/${repo}/manifests/${ref}`
        await expectError(await reg.request(path), 404, 'MANIFEST_UNKNOWN')
        const head = await reg.request(path, { method: 'HEAD' })
        await expectError(head, 404, 'MANIFEST_UNKNOWN', 'HEAD')
      }
    }
    await expectManifest(reg, 'ref/known', 'v1', m)
  })

  it('DELETE answers 404 MANIFEST_UNKNOWN and leaves the repository as it was', async () => {
    const m = await imageManifest(reg.request, 'ref/delete', 'delete')
    await put(reg, 'ref/delete', 'v1', m)
    const before = await storedKeys(reg)
    for (const ref of NOT_A_REFERENCE) {
      const del = await reg.request(`/v2/ref/delete/manifests/${ref}`, { method: 'DELETE' })
      await expectError(del, 404, 'MANIFEST_UNKNOWN')
    }
    assert.deepEqual(await storedKeys(reg), before)
    await expectManifest(reg, 'ref/delete', 'v1', m)
  })

  it('is answered before storage is asked anything', async () => {
    const root = await tempDir()
    const backend = await backendFor(root)
    const { driver, staging } = backend.stores[0]
    const keys: string[] = []
    // Every driver call with its key; calls about other keys (startup, background work) are
    // filtered out below by the repository's prefix.
    const counted = new Proxy(driver, {
      get(target, prop, receiver) {
        const value: unknown = Reflect.get(target, prop, receiver)
        if (typeof value !== 'function') return value
        return (...args: unknown[]) => {
          keys.push(String(args[0]))
          return (value as (...a: unknown[]) => unknown).apply(target, args)
        }
      },
    })
    const own = await inMemoryRegistry({ root, driver: counted, staging })
    try {
      const asked = () => keys.filter((k) => k.startsWith('ref/probe'))
      // The control: a valid tag in an unknown repository is looked up in storage.
      await expectError(await own.request('/v2/ref/probe/manifests/v1'), 404, 'NAME_UNKNOWN')
      assert.ok(asked().length > 0, 'a lookup of a valid tag reaches the driver')
      keys.length = 0
      for (const ref of NOT_A_REFERENCE) {
        for (const method of ['GET', 'HEAD', 'DELETE']) {
          const res = await own.request(`/v2/ref/probe/manifests/${ref}`, { method })
          await expectError(res, 404, 'MANIFEST_UNKNOWN', method)
        }
      }
      assert.deepEqual(asked(), [])
    } finally {
      await own.close()
      backend.close()
    }
  })
})

describe('manifests: delete and retag', () => {
  let reg: InMemoryRegistry
  before(async () => (reg = await inMemoryRegistry()))
  after(async () => reg.close())

  it('DELETE by digest: 202, then the digest and every tag on it are 404 MANIFEST_UNKNOWN', async () => {
    const m = await imageManifest(reg.request, 'd/digest', 'del-digest')
    await put(reg, 'd/digest', 'v1', m)
    await put(reg, 'd/digest', 'also', m)
    const del = await reg.request(`/v2/d/digest/manifests/${m.desc.digest}`, { method: 'DELETE' })
    assert.equal(del.status, 202)
    for (const ref of [m.desc.digest, 'v1', 'also']) {
      await expectError(await reg.request(`/v2/d/digest/manifests/${ref}`), 404, 'MANIFEST_UNKNOWN')
      const head = await reg.request(`/v2/d/digest/manifests/${ref}`, { method: 'HEAD' })
      await expectError(head, 404, 'MANIFEST_UNKNOWN', 'HEAD')
    }
    assert.deepEqual(await tags(reg, 'd/digest'), [])
    const again = await reg.request(`/v2/d/digest/manifests/${m.desc.digest}`, { method: 'DELETE' })
    await expectError(again, 404, 'MANIFEST_UNKNOWN')
  })

  it('DELETE by tag: 202, the tag is gone, the manifest is still served by digest', async () => {
    const m = await imageManifest(reg.request, 'd/tag', 'del-tag')
    await put(reg, 'd/tag', 'v1', m)
    await put(reg, 'd/tag', 'v2', m)
    const del = await reg.request('/v2/d/tag/manifests/v1', { method: 'DELETE' })
    assert.equal(del.status, 202)
    await expectError(await reg.request('/v2/d/tag/manifests/v1'), 404, 'MANIFEST_UNKNOWN')
    assert.deepEqual(await tags(reg, 'd/tag'), ['v2'])
    await expectManifest(reg, 'd/tag', m.desc.digest, m)
    await expectManifest(reg, 'd/tag', 'v2', m)
    assert.equal((await reg.request('/v2/d/tag/manifests/v2', { method: 'DELETE' })).status, 202)
    assert.deepEqual(await tags(reg, 'd/tag'), [])
    await expectManifest(reg, 'd/tag', m.desc.digest, m)
  })

  it('DELETE of something unknown is 404 and does not rewrite index.json', async () => {
    const m = await imageManifest(reg.request, 'd/unknown', 'unknown')
    await put(reg, 'd/unknown', 'v1', m)
    const rewritten = await watchKey(reg.root, reg.driver, 'd/unknown/index.json')
    const tag = await reg.request('/v2/d/unknown/manifests/nope', { method: 'DELETE' })
    await expectError(tag, 404, 'MANIFEST_UNKNOWN')
    const digest = await reg.request(`/v2/d/unknown/manifests/${sha256('nope')}`, {
      method: 'DELETE',
    })
    await expectError(digest, 404, 'MANIFEST_UNKNOWN')
    assert.equal(await rewritten(), false, 'index.json untouched')
    const repo = await reg.request('/v2/d/no-such-repo/manifests/v1', { method: 'DELETE' })
    await expectError(repo, 404, 'NAME_UNKNOWN')
  })

  it('pulling from an unknown repository is 404 NAME_UNKNOWN; an unknown tag is MANIFEST_UNKNOWN', async () => {
    await expectError(await reg.request('/v2/d/nowhere/manifests/v1'), 404, 'NAME_UNKNOWN')
    const m = await imageManifest(reg.request, 'd/known', 'known')
    await put(reg, 'd/known', 'v1', m)
    await expectError(await reg.request('/v2/d/known/manifests/v9'), 404, 'MANIFEST_UNKNOWN')
    const byDigest = await reg.request(`/v2/d/known/manifests/${sha256('x')}`)
    await expectError(byDigest, 404, 'MANIFEST_UNKNOWN')
  })

  it('pushing another manifest under a tag moves the tag; the old one stays by digest', async () => {
    const first = await imageManifest(reg.request, 'd/retag', 'first')
    const second = await imageManifest(reg.request, 'd/retag', 'second')
    await put(reg, 'd/retag', 'latest', first)
    await put(reg, 'd/retag', 'stable', first)
    await put(reg, 'd/retag', 'latest', second)
    await expectManifest(reg, 'd/retag', 'latest', second)
    await expectManifest(reg, 'd/retag', 'stable', first)
    await expectManifest(reg, 'd/retag', first.desc.digest, first)
    assert.deepEqual(await tags(reg, 'd/retag'), ['latest', 'stable'])
    // Moving it back, and re-pushing the same bytes, are both fine.
    await put(reg, 'd/retag', 'latest', first)
    await put(reg, 'd/retag', 'latest', first)
    await expectManifest(reg, 'd/retag', 'latest', first)
    await expectManifest(reg, 'd/retag', second.desc.digest, second)
    assert.deepEqual(await tags(reg, 'd/retag'), ['latest', 'stable'])
  })
})
