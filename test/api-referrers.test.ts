// The referrers API (distribution-spec "Listing Referrers", end-12a/12b): descriptors with
// artifactType and annotations, filtering, and an index kept at PUT/DELETE that survives the
// loss of the engine index (docs/architecture.md §5.7).
import assert from 'node:assert/strict'
import { rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { inMemoryRegistry, sha256, type InMemoryRegistry } from './helpers/harness.js'
import {
  artifactManifest,
  descOf,
  EMPTY_CONFIG,
  expectError,
  imageManifest,
  indexOf,
  MT,
  pushBlob,
  putManifest,
  sha512,
  type Desc,
  type Stored,
} from './helpers/api.js'

const SBOM = 'application/vnd.example.sbom.v1'
const SIG = 'application/vnd.example.signature.v1'
const CUSTOM_CONFIG = 'application/vnd.example.config.v1+json'
const REPO = 'ref/app'

interface ReferrersIndex {
  schemaVersion: number
  mediaType: string
  manifests: Desc[]
}

async function referrers(reg: InMemoryRegistry, subject: string, query = '', repo = REPO) {
  const res = await reg.request(`/v2/${repo}/referrers/${subject}${query}`)
  assert.equal(res.status, 200, await res.clone().text())
  assert.equal(res.headers.get('content-type'), MT.ociIndex)
  const body = (await res.json()) as ReferrersIndex
  assert.equal(body.schemaVersion, 2)
  assert.equal(body.mediaType, MT.ociIndex)
  assert.ok(Array.isArray(body.manifests))
  const byDigest = (a: Desc, b: Desc) => (a.digest < b.digest ? -1 : 1)
  return { res, manifests: [...body.manifests].sort(byDigest) }
}

function sorted(descs: Desc[]): Desc[] {
  return [...descs].sort((a, b) => (a.digest < b.digest ? -1 : 1))
}

async function pushAt(reg: InMemoryRegistry, ref: string, m: Stored, repo = REPO) {
  const res = await putManifest(reg.request, repo, ref, m.bytes, m.desc.mediaType)
  assert.equal(res.status, 201, await res.clone().text())
  return res
}

describe('referrers', () => {
  let reg: InMemoryRegistry
  let subject: Stored
  let sbom: Stored
  let sig: Stored
  let plainImage: Stored
  let index: Stored
  /** what the API must list for `subject`, in full */
  let expected: Desc[]

  before(async () => {
    reg = await inMemoryRegistry()
    subject = await imageManifest(reg.request, REPO, 'subject')
    await pushAt(reg, 'v1', subject)
    const s = subject.desc
    sbom = await artifactManifest(reg.request, REPO, s, {
      artifactType: SBOM,
      annotations: {
        'org.opencontainers.image.created': '2024-01-01T00:00:00Z',
        'org.example.sbom.format': 'json',
      },
    })
    sig = await artifactManifest(reg.request, REPO, s, {
      artifactType: SIG,
      annotations: { 'org.example.signature.fingerprint': 'abcd' },
    })
    // An image manifest without artifactType: the API reports config.mediaType instead.
    await pushBlob(reg.request, REPO, EMPTY_CONFIG)
    plainImage = await imageManifest(reg.request, REPO, 'plain-referrer', {
      extra: {
        config: descOf(CUSTOM_CONFIG, EMPTY_CONFIG),
        subject: s,
        annotations: { note: 'plain' },
      },
    })
    // An index with a subject and no artifactType: the descriptor has no artifactType.
    const child = await imageManifest(reg.request, REPO, 'index-child')
    await pushAt(reg, child.desc.digest, child)
    index = indexOf([child.desc], false, { subject: s, annotations: { kind: 'index' } })

    for (const m of [sbom, sig, plainImage, index]) {
      const res = await pushAt(reg, m.desc.digest, m)
      assert.equal(res.headers.get('oci-subject'), s.digest)
    }
    expected = sorted([
      {
        ...sbom.desc,
        artifactType: SBOM,
        annotations: JSON.parse(sbom.bytes.toString()).annotations,
      },
      {
        ...sig.desc,
        artifactType: SIG,
        annotations: { 'org.example.signature.fingerprint': 'abcd' },
      },
      { ...plainImage.desc, artifactType: CUSTOM_CONFIG, annotations: { note: 'plain' } },
      { ...index.desc, annotations: { kind: 'index' } },
    ])
  })
  after(async () => reg.close())

  it('lists every referrer with artifactType and annotations copied from its manifest', async () => {
    const { res, manifests } = await referrers(reg, subject.desc.digest)
    assert.equal(res.headers.get('oci-filters-applied'), null)
    assert.deepEqual(manifests, expected)
    const idx = manifests.find((d) => d.digest === index.desc.digest)!
    assert.ok(!('artifactType' in idx), 'an index without artifactType lists none')
  })

  it('filters by artifactType and says so with OCI-Filters-Applied', async () => {
    for (const [type, want] of [
      [SBOM, [sbom]],
      [SIG, [sig]],
      [CUSTOM_CONFIG, [plainImage]],
      ['application/vnd.example.none', []],
    ] as const) {
      const { res, manifests } = await referrers(
        reg,
        subject.desc.digest,
        `?artifactType=${encodeURIComponent(type)}`,
      )
      assert.equal(res.headers.get('oci-filters-applied'), 'artifactType')
      assert.deepEqual(
        manifests.map((d) => d.digest),
        want.map((m) => m.desc.digest).sort(),
        type,
      )
      for (const d of manifests) assert.equal(d.artifactType, type)
    }
  })

  it('an unknown subject, or an unknown repository, is 200 with an empty index', async () => {
    assert.deepEqual((await referrers(reg, sha256('nothing refers to me'))).manifests, [])
    assert.deepEqual((await referrers(reg, subject.desc.digest, '', 'ref/unknown')).manifests, [])
    // A referrer of one repository is not listed in another.
    assert.deepEqual((await referrers(reg, subject.desc.digest, '', 'ref/elsewhere')).manifests, [])
  })

  it('an invalid digest is 400', async () => {
    for (const bad of [
      'sha256:abc',
      'md5:' + 'a'.repeat(32),
      'latest',
      `sha256:${'G'.repeat(64)}`,
    ]) {
      await expectError(await reg.request(`/v2/${REPO}/referrers/${bad}`), 400, 'DIGEST_INVALID')
    }
    await expectError(
      await reg.request(`/v2/Bad/referrers/${subject.desc.digest}`),
      400,
      'NAME_INVALID',
    )
  })

  it('a referrer pushed before its subject is listed, also for a sha512 subject', async () => {
    const absent = { mediaType: MT.ociManifest, digest: sha512('future subject'), size: 42 }
    const early = await artifactManifest(reg.request, REPO, absent, {
      artifactType: SBOM,
      seed: 'early',
    })
    await pushAt(reg, 'early-sbom', early)
    const { manifests } = await referrers(reg, absent.digest)
    assert.deepEqual(manifests, [{ ...early.desc, artifactType: SBOM }])
  })

  it('deleting a referrer by digest removes it; deleting only its tag does not', async () => {
    const temp = await artifactManifest(reg.request, REPO, subject.desc, {
      artifactType: SIG,
      seed: 'temp',
    })
    await pushAt(reg, 'temp-sig', temp)
    assert.ok(
      (await referrers(reg, subject.desc.digest)).manifests.some(
        (d) => d.digest === temp.desc.digest,
      ),
    )
    // Untagging keeps the manifest (it is still pulled by digest), so it still refers.
    assert.equal(
      (await reg.request(`/v2/${REPO}/manifests/temp-sig`, { method: 'DELETE' })).status,
      202,
    )
    assert.ok(
      (await referrers(reg, subject.desc.digest)).manifests.some(
        (d) => d.digest === temp.desc.digest,
      ),
    )
    const del = await reg.request(`/v2/${REPO}/manifests/${temp.desc.digest}`, { method: 'DELETE' })
    assert.equal(del.status, 202)
    assert.deepEqual((await referrers(reg, subject.desc.digest)).manifests, expected)
    const filtered = await referrers(reg, subject.desc.digest, `?artifactType=${SIG}`)
    assert.deepEqual(
      filtered.manifests.map((d) => d.digest),
      [sig.desc.digest],
    )
  })
})

describe('referrers after the engine index is lost', () => {
  it('are rebuilt from the layout when <root>/_outpost/index is deleted', async () => {
    const first = await inMemoryRegistry()
    const root = first.root
    const subject = await imageManifest(first.request, REPO, 'rebuild-subject')
    await pushAt(first, 'v1', subject)
    const other = await imageManifest(first.request, REPO, 'rebuild-other')
    await pushAt(first, 'v2', other)
    const a = await artifactManifest(first.request, REPO, subject.desc, {
      artifactType: SBOM,
      annotations: { a: '1' },
    })
    const b = await artifactManifest(first.request, REPO, subject.desc, {
      artifactType: SIG,
      seed: 'b',
    })
    const c = await artifactManifest(first.request, REPO, other.desc, {
      artifactType: SIG,
      seed: 'c',
    })
    const gone = await artifactManifest(first.request, REPO, subject.desc, {
      artifactType: SIG,
      seed: 'gone',
    })
    for (const m of [a, b, c, gone]) await pushAt(first, m.desc.digest, m)
    const del = await first.request(`/v2/${REPO}/manifests/${gone.desc.digest}`, {
      method: 'DELETE',
    })
    assert.equal(del.status, 202)
    const before = await referrers(first, subject.desc.digest)
    assert.deepEqual(
      before.manifests,
      sorted([
        { ...a.desc, artifactType: SBOM, annotations: { a: '1' } },
        { ...b.desc, artifactType: SIG },
      ]),
    )
    await first.close()

    const indexDir = join(root, '_outpost', 'index')
    assert.ok((await stat(indexDir)).isDirectory())
    await rm(indexDir, { recursive: true, force: true })

    const second = await inMemoryRegistry({ root })
    try {
      assert.ok(second.storage.db.fresh, 'the engine index starts empty')
      assert.deepEqual((await referrers(second, subject.desc.digest)).manifests, before.manifests)
      const filtered = await referrers(second, subject.desc.digest, `?artifactType=${SBOM}`)
      assert.deepEqual(
        filtered.manifests.map((d) => d.digest),
        [a.desc.digest],
      )
      assert.deepEqual((await referrers(second, other.desc.digest)).manifests, [
        { ...c.desc, artifactType: SIG },
      ])

      // The rebuilt index keeps following PUT and DELETE.
      const d = await artifactManifest(second.request, REPO, subject.desc, {
        artifactType: SBOM,
        seed: 'd',
      })
      await pushAt(second, d.desc.digest, d)
      const delB = await second.request(`/v2/${REPO}/manifests/${b.desc.digest}`, {
        method: 'DELETE',
      })
      assert.equal(delB.status, 202)
      const now = await referrers(second, subject.desc.digest)
      assert.deepEqual(
        now.manifests.map((x) => x.digest),
        [a.desc.digest, d.desc.digest].sort(),
      )
    } finally {
      await second.close()
      await rm(root, { recursive: true, force: true })
    }
  })
})
