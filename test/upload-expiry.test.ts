// Idle upload sessions expire and leave nothing at all; active ones and stored blobs stay. A
// session that has received no bytes is a record only: it survives a restart, and expires too.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  inMemoryRegistry,
  layoutFiles,
  makeImage,
  pushImage,
  scratchDirs,
  sha256,
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
        assert.equal(
          ((await res.json()) as { errors: Array<{ code: string; message: string }> }).errors[0]
            .code,
          'BLOB_UPLOAD_UNKNOWN',
        )
      }
      assert.deepEqual(await layoutFiles(root), stored)
      for (const location of sessions) {
        const id = location.split('/').pop()!
        assert.equal(reg.storage.db.getSession(id), undefined)
      }
      const catalog = (await (await reg.request('/v2/_catalog')).json()) as {
        repositories: string[]
      }
      assert.deepEqual(catalog.repositories, ['stored'])
    } finally {
      await reg.close()
    }
  })

  it('keeps a session without bytes as a record only, across a restart, until it expires', async () => {
    const root = await dir()
    let reg = await inMemoryRegistry({ root })
    try {
      const open = async () => {
        const res = await reg.request('/v2/fresh/blobs/uploads/', { method: 'POST' })
        assert.equal(res.status, 202)
        return res.headers.get('location')!
      }
      const kept = await open()
      const idle = await open()
      // Nothing on disk for either: no staging file, no repository yet.
      assert.deepEqual(await layoutFiles(root), [])
      assert.equal((await reg.request(kept)).headers.get('range'), '0-0')

      await reg.close()
      reg = await inMemoryRegistry({ root })
      assert.equal((await reg.request(kept)).status, 204)
      const body = Buffer.from('a small blob, taken whole')
      // Content-Length declared, as a client sends it: the body is small enough to take whole.
      const headers = { 'Content-Length': String(body.length) }
      const put = await reg.request(`${kept}?digest=${sha256(body)}`, {
        method: 'PUT',
        body,
        headers,
      })
      assert.equal(put.status, 201)
      const got = await reg.request(`/v2/fresh/blobs/${sha256(body)}`)
      assert.deepEqual(Buffer.from(await got.arrayBuffer()), body)
      assert.equal((await reg.request(kept)).status, 404, 'a closed session is gone')

      // The other one never received a byte: expiry drops its record.
      assert.equal(await reg.storage.registry.expireUploads(0), 1)
      const gone = await reg.request(idle)
      assert.equal(gone.status, 404)
      assert.equal(
        ((await gone.json()) as { errors: Array<{ code: string; message: string }> }).errors[0]
          .code,
        'BLOB_UPLOAD_UNKNOWN',
      )
      assert.equal(reg.storage.db.getSession(idle.split('/').pop()!), undefined)
    } finally {
      await reg.close()
    }
  })

  it('refuses a small body that does not match its digest and stores nothing', async () => {
    const root = await dir()
    const reg = await inMemoryRegistry({ root })
    try {
      const res = await reg.request('/v2/refused/blobs/uploads/', { method: 'POST' })
      const location = res.headers.get('location')!
      const body = Buffer.from('these bytes')
      const wrong = sha256('other bytes')
      const headers = { 'Content-Length': String(body.length) }
      const put = await reg.request(`${location}?digest=${wrong}`, { method: 'PUT', body, headers })
      assert.equal(put.status, 400)
      assert.equal(
        ((await put.json()) as { errors: Array<{ code: string; message: string }> }).errors[0].code,
        'DIGEST_INVALID',
      )
      assert.equal((await reg.request(location)).status, 404)
      assert.deepEqual(await layoutFiles(root), [])
      assert.equal((await reg.request(`/v2/refused/blobs/${wrong}`)).status, 404)
    } finally {
      await reg.close()
    }
  })
})
