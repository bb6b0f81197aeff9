// Never serve bytes that do not match their digest (docs/architecture.md §5.1, §5.3 and §5.7): short
// blobs are absent, blobs are re-hashed after an unclean shutdown, corrupt ones are quarantined,
// and a lost or unreadable engine index, or one written by a newer version, costs a rebuild,
// never data.
import assert from 'node:assert/strict'
import { readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { open } from 'lmdb'
import { INDEX_VERSION } from '../src/engine-db/index.js'
import { inMemoryRegistry, makeImage, pushImage, sha256, scratchDirs } from './helpers/harness.js'

const dir = scratchDirs()

function blobPath(root: string, repo: string, digest: string): string {
  const [alg, hex] = digest.split(':')
  return join(root, repo, 'blobs', alg, hex)
}

async function seeded() {
  const root = await dir()
  const reg = await inMemoryRegistry({ root })
  const image = makeImage('crash-verify', 2)
  assert.equal((await pushImage(reg.request, 'app', image, 'v1')).status, 201)
  await reg.close()
  return { root, image }
}

describe('verification after crashes', () => {
  it('a short blob is absent even after a clean stop, and can be pushed again', async () => {
    const { root, image } = await seeded()
    const layer = sha256(image.layers[0])
    await truncate(blobPath(root, 'app', layer), 3)
    const reg = await inMemoryRegistry({ root })
    try {
      assert.equal((await reg.request(`/v2/app/blobs/${layer}`, { method: 'HEAD' })).status, 404)
      assert.equal((await reg.request(`/v2/app/blobs/${layer}`)).status, 404)
      const again = await reg.request(`/v2/app/blobs/uploads/?digest=${layer}`, {
        method: 'POST',
        body: image.layers[0],
      })
      assert.equal(again.status, 201)
      const res = await reg.request(`/v2/app/blobs/${layer}`)
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), image.layers[0])
    } finally {
      await reg.close()
    }
  })

  it('after an unclean shutdown, a blob with wrong bytes is quarantined, not served', async () => {
    const { root, image } = await seeded()
    await rm(join(root, '_outpost/clean-stop')) // as if the process died
    const layer = sha256(image.layers[1])
    const path = blobPath(root, 'app', layer)
    const bytes = await readFile(path)
    bytes[0] ^= 0xff // same size, different content: only a hash can tell
    await writeFile(path, bytes)
    const reg = await inMemoryRegistry({ root })
    try {
      assert.equal(reg.storage.cleanStart, false)
      assert.equal((await reg.request(`/v2/app/blobs/${layer}`)).status, 404)
      const quarantined = await readdir(join(root, '_outpost/quarantine'))
      assert.equal(quarantined.length, 1)
      assert.ok(quarantined[0].startsWith(`sha256-${layer.slice(7)}`))
      // Intact blobs are verified once and served.
      const config = await reg.request(`/v2/app/blobs/${sha256(image.config)}`)
      assert.deepEqual(Buffer.from(await config.arrayBuffer()), image.config)
      // The manifest is intact too: it is re-checked against its digest on load.
      const manifest = await reg.request('/v2/app/manifests/v1')
      assert.deepEqual(Buffer.from(await manifest.arrayBuffer()), image.manifest)
    } finally {
      await reg.close()
    }
  })

  it('a manifest whose bytes were damaged is not served', async () => {
    const { root, image } = await seeded()
    const path = blobPath(root, 'app', image.digest)
    const bytes = await readFile(path)
    bytes[bytes.length - 2] ^= 0x01
    await writeFile(path, bytes)
    const reg = await inMemoryRegistry({ root })
    try {
      const res = await reg.request('/v2/app/manifests/v1')
      assert.equal(res.status, 404)
      assert.equal(
        ((await res.json()) as { errors: Array<{ code: string; message: string }> }).errors[0].code,
        'MANIFEST_UNKNOWN',
      )
    } finally {
      await reg.close()
    }
  })

  it('an unreadable engine index is moved aside and rebuilt; no data is lost', async () => {
    const { root, image } = await seeded()
    await writeFile(join(root, '_outpost/index/data.mdb'), Buffer.alloc(8192, 0x5a))
    const reg = await inMemoryRegistry({ root })
    try {
      const entries = await readdir(join(root, '_outpost'))
      assert.ok(
        entries.some((e) => e.startsWith('index.broken-')),
        entries.join(','),
      )
      const manifest = await reg.request('/v2/app/manifests/v1')
      assert.deepEqual(Buffer.from(await manifest.arrayBuffer()), image.manifest)
      const layer = await reg.request(`/v2/app/blobs/${sha256(image.layers[0])}`)
      assert.deepEqual(Buffer.from(await layer.arrayBuffer()), image.layers[0])
    } finally {
      await reg.close()
    }
  })

  it('an index written by a newer version is rebuilt, never read, and says why', async () => {
    const { root, image } = await seeded()
    // What a later Outpost might leave: a higher version, and a record this build would take for
    // a referrer of the pushed manifest.
    const later = open({ path: join(root, '_outpost/index'), compression: false })
    const planted = `sha256:${'0'.repeat(64)}`
    await later.put('version', INDEX_VERSION + 1)
    await later.put(`r\x1fapp\x1f${image.digest}\x1f${planted}`, {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: planted,
      size: 1,
    })
    await later.close()

    const logged: Array<{ msg: string; fields?: Record<string, unknown> }> = []
    const reg = await inMemoryRegistry({ root, log: (msg, fields) => logged.push({ msg, fields }) })
    try {
      assert.equal(reg.storage.db.fresh, true, 'rebuilt from the layout like a lost index')
      const why = logged.find((l) => /written by another version/.test(l.msg))
      assert.deepEqual(why?.fields, { version: INDEX_VERSION + 1, supported: INDEX_VERSION })
      const referrers = (await (await reg.request(`/v2/app/referrers/${image.digest}`)).json()) as {
        manifests: unknown[]
      }
      assert.deepEqual(referrers.manifests, [], 'the newer record was not read')
      const manifest = await reg.request('/v2/app/manifests/v1')
      assert.deepEqual(Buffer.from(await manifest.arrayBuffer()), image.manifest)
    } finally {
      await reg.close()
    }
    const after = open({ path: join(root, '_outpost/index'), compression: false, readOnly: true })
    assert.equal(after.get('version'), INDEX_VERSION)
    await after.close()
  })

  it('a deleted engine index is recreated and the registry serves as before', async () => {
    const { root, image } = await seeded()
    await rm(join(root, '_outpost/index'), { recursive: true })
    const reg = await inMemoryRegistry({ root })
    try {
      assert.equal(reg.storage.db.fresh, true)
      const tags = (await (await reg.request('/v2/app/tags/list')).json()) as { tags: string[] }
      assert.deepEqual(tags.tags, ['v1'])
      const manifest = await reg.request(`/v2/app/manifests/${image.digest}`)
      assert.equal(manifest.status, 200)
    } finally {
      await reg.close()
    }
  })
})
