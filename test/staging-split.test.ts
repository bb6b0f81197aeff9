// Uploads staged on one backend and published to another (local staging in front of remote
// blobs): the bytes are carried over and verified again on the way, nothing stays in staging,
// and the blobs' backend never holds a partial or unverified object.
import assert from 'node:assert/strict'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { FsDriver } from '../src/storage/fs/index.js'
import {
  inMemoryRegistry,
  layoutFiles,
  listFiles,
  makeImage,
  pushImage,
  scratchDirs,
  sha256,
} from './helpers/harness.js'

const dir = scratchDirs()

async function split() {
  const root = await dir()
  const blobsRoot = join(root, 'blobs-backend')
  const stagingRoot = join(root, 'staging')
  for (const d of [blobsRoot, stagingRoot]) await mkdir(d)
  const reg = await inMemoryRegistry({
    root: join(root, 'state'),
    driver: new FsDriver({ root: blobsRoot, commit: false }),
    staging: new FsDriver({ root: stagingRoot, commit: false }),
  })
  return { reg, blobsRoot, stagingRoot }
}

describe('staging on another backend', () => {
  it('publishes monolithic and chunked uploads to the blobs backend and empties staging', async () => {
    const { reg, blobsRoot, stagingRoot } = await split()
    try {
      const image = makeImage('split', 2)
      assert.equal((await pushImage(reg.request, 'team/app', image, 'v1')).status, 201)
      // A chunked upload in two PATCHes.
      const big = Buffer.alloc(3 * 1024 * 1024, 7)
      const start = await reg.request('/v2/team/app/blobs/uploads/', { method: 'POST' })
      const location = start.headers.get('location')!
      for (const [from, to] of [
        [0, 1024 * 1024],
        [1024 * 1024, big.length],
      ]) {
        const res = await reg.request(location, {
          method: 'PATCH',
          headers: { 'Content-Range': `${from}-${to - 1}` },
          body: big.subarray(from, to),
        })
        assert.equal(res.status, 202)
      }
      const done = await reg.request(`${location}?digest=${sha256(big)}`, { method: 'PUT' })
      assert.equal(done.status, 201)
      const pulled = await reg.request(`/v2/team/app/blobs/${sha256(big)}`)
      assert.deepEqual(Buffer.from(await pulled.arrayBuffer()), big)
      const manifest = await reg.request('/v2/team/app/manifests/v1')
      assert.deepEqual(Buffer.from(await manifest.arrayBuffer()), image.manifest)
      assert.ok(
        (await layoutFiles(blobsRoot)).includes(`team/app/blobs/sha256/${sha256(big).slice(7)}`),
      )
      assert.deepEqual(await listFiles(stagingRoot), [], 'staging keeps nothing once published')
    } finally {
      await reg.close()
    }
  })

  it('a wrong digest leaves nothing on either backend', async () => {
    const { reg, blobsRoot, stagingRoot } = await split()
    try {
      const res = await reg.request(`/v2/r/blobs/uploads/?digest=${sha256('other')}`, {
        method: 'POST',
        body: 'these bytes',
      })
      assert.equal(res.status, 400)
      assert.deepEqual(await layoutFiles(blobsRoot), [])
      assert.deepEqual(await listFiles(stagingRoot), [])
    } finally {
      await reg.close()
    }
  })
})
