// Idle upload sessions expire and leave nothing at all; active ones and stored blobs stay.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  inMemoryRegistry,
  layoutFiles,
  makeImage,
  pushImage,
  scratchDirs,
} from './helpers/harness.js'

const dir = scratchDirs()

describe('upload session expiry', () => {
  it('removes idle sessions, their bytes and their records; keeps fresh ones and blobs', async () => {
    const root = await dir()
    const reg = await inMemoryRegistry({ root })
    try {
      const image = makeImage('expiry', 1)
      assert.equal((await pushImage(reg.request, 'stored', image, 'v1')).status, 201)
      const stored = await layoutFiles(root)

      // An idle session in an existing repository and one in a repository with nothing else.
      const sessions: string[] = []
      for (const repo of ['stored', 'only/uploads']) {
        const res = await reg.request(`/v2/${repo}/blobs/uploads/`, { method: 'POST' })
        assert.equal(res.status, 202)
        const location = res.headers.get('location')!
        const patch = await reg.request(location, { method: 'PATCH', body: 'some bytes' })
        assert.equal(patch.status, 202)
        sessions.push(location)
      }
      assert.equal((await layoutFiles(root)).length, stored.length + 2)

      // Nothing is old enough yet.
      assert.equal(await reg.storage.registry.expireUploads(60_000), 0)
      assert.equal((await reg.request(sessions[0])).status, 204)

      assert.equal(await reg.storage.registry.expireUploads(0), 2)
      for (const location of sessions) {
        const res = await reg.request(location)
        assert.equal(res.status, 404)
        assert.equal((await res.json()).errors[0].code, 'BLOB_UPLOAD_UNKNOWN')
      }
      assert.deepEqual(await layoutFiles(root), stored)
      for (const location of sessions) {
        const id = location.split('/').pop()!
        assert.equal(reg.storage.db.getSession(id), undefined)
      }
      const catalog = await (await reg.request('/v2/_catalog')).json()
      assert.deepEqual(catalog.repositories, ['stored'])
    } finally {
      await reg.close()
    }
  })
})
