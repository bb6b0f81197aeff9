// Blob uploads (distribution-spec "Pushing blobs", end-4a/4b, end-5, end-6, end-11, end-13):
// sessions, monolithic and chunked pushes, cross-repository mounts, status and cancel.
import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { inMemoryRegistry, sha256, storedKeys, type InMemoryRegistry } from './helpers/harness.js'
import { bodyBytes, expectError, openSession, pushBlob, sha512, withQuery } from './helpers/api.js'

function patch(reg: InMemoryRegistry, location: string, bytes: Buffer, range?: [number, number]) {
  const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' }
  if (range) headers['Content-Range'] = `${range[0]}-${range[1]}`
  return reg.request(location, { method: 'PATCH', headers, body: bytes })
}

async function expectBlob(reg: InMemoryRegistry, repo: string, digest: string, bytes: Buffer) {
  const res = await reg.request(`/v2/${repo}/blobs/${digest}`)
  assert.equal(res.status, 200, `${digest} readable in ${repo}`)
  assert.equal(res.headers.get('docker-content-digest'), digest)
  assert.deepEqual(await bodyBytes(res), bytes)
}

function assertCreated(res: Response, repo: string, digest: string) {
  assert.equal(res.status, 201)
  assert.equal(res.headers.get('location'), `/v2/${repo}/blobs/${digest}`)
  assert.equal(res.headers.get('docker-content-digest'), digest)
}

async function status(reg: InMemoryRegistry, location: string): Promise<string | null> {
  const res = await reg.request(location)
  assert.equal(res.status, 204)
  assert.equal(res.headers.get('location'), location)
  return res.headers.get('range')
}

describe('blob uploads', () => {
  let reg: InMemoryRegistry
  before(async () => (reg = await inMemoryRegistry()))
  after(async () => reg.close())

  it('POST opens a session: 202 with Location, Range and an upload UUID', async () => {
    const res = await reg.request('/v2/up/open/blobs/uploads/', { method: 'POST' })
    assert.equal(res.status, 202)
    const location = res.headers.get('location')!
    const uuid = res.headers.get('docker-upload-uuid')!
    assert.match(uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    assert.equal(location, `/v2/up/open/blobs/uploads/${uuid}`)
    assert.equal(res.headers.get('range'), '0-0')
    assert.equal(await status(reg, location), '0-0')
    // Without the trailing slash too.
    const bare = await reg.request('/v2/up/open/blobs/uploads', { method: 'POST' })
    assert.equal(bare.status, 202)
  })

  it('POST ?digest= stores a blob in one request: 201, Location, Docker-Content-Digest', async () => {
    const bytes = randomBytes(5000)
    const digest = sha256(bytes)
    const res = await reg.request(`/v2/up/mono/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: bytes,
    })
    assertCreated(res, 'up/mono', digest)
    await expectBlob(reg, 'up/mono', digest, bytes)
    const files = (await storedKeys(reg)).filter((f) => f.startsWith('up/mono/'))
    assert.ok(!files.some((f) => f.includes('.uploads')), 'no session left')
  })

  it('POST ?mount=&from= mounts a blob the source holds: 201, readable in the target', async () => {
    const bytes = Buffer.from('mount me')
    const digest = await pushBlob(reg.request, 'up/source', bytes)
    const res = await reg.request(`/v2/up/target/blobs/uploads/?mount=${digest}&from=up/source`, {
      method: 'POST',
    })
    assertCreated(res, 'up/target', digest)
    await expectBlob(reg, 'up/target', digest, bytes)
    // The source keeps its copy, and deleting one does not remove the other.
    assert.equal(
      (await reg.request(`/v2/up/target/blobs/${digest}`, { method: 'DELETE' })).status,
      202,
    )
    await expectBlob(reg, 'up/source', digest, bytes)
  })

  it('a mount that cannot be served opens a session instead (202)', async () => {
    const missing = sha256('not in the source')
    const held = await pushBlob(reg.request, 'up/source2', Buffer.from('held'))
    const cases = [
      `?mount=${missing}&from=up/source2`, // source lacks the blob
      `?mount=${held}`, // no `from`
      `?mount=${held}&from=up/nowhere`, // source does not exist
    ]
    for (const query of cases) {
      const res = await reg.request(`/v2/up/mount-miss/blobs/uploads/${query}`, { method: 'POST' })
      assert.equal(res.status, 202, query)
      const location = res.headers.get('location')!
      assert.match(location, /^\/v2\/up\/mount-miss\/blobs\/uploads\/[0-9a-f-]{36}$/)
      assert.equal(await status(reg, location), '0-0')
      assert.equal((await reg.request(location, { method: 'DELETE' })).status, 204)
    }
    // A failed mount does not leave an empty repository behind.
    const catalog = (await (await reg.request('/v2/_catalog')).json()) as { repositories: string[] }
    assert.ok(!catalog.repositories.includes('up/mount-miss'), catalog.repositories.join(','))
    assert.deepEqual(
      (await storedKeys(reg)).filter((f) => f.startsWith('up/mount-miss/')),
      [],
    )
  })

  it('streamed PATCHes append, PUT ?digest= closes: 201 and the blob is readable', async () => {
    const parts = [randomBytes(1000), randomBytes(3000), randomBytes(1)]
    const whole = Buffer.concat(parts)
    let location = await openSession(reg.request, 'up/stream')
    let total = 0
    for (const part of parts) {
      const res = await patch(reg, location, part)
      total += part.length
      assert.equal(res.status, 202)
      assert.equal(res.headers.get('range'), `0-${total - 1}`)
      location = res.headers.get('location')!
    }
    assert.equal(await status(reg, location), `0-${whole.length - 1}`)
    const put = await reg.request(withQuery(location, `digest=${sha256(whole)}`), { method: 'PUT' })
    assertCreated(put, 'up/stream', sha256(whole))
    await expectBlob(reg, 'up/stream', sha256(whole), whole)
    // The session is closed.
    await expectError(await reg.request(location), 404, 'BLOB_UPLOAD_UNKNOWN')
  })

  it('chunks with Content-Range: in order 202, out of order 416, and the session survives', async () => {
    const whole = randomBytes(10_000)
    let location = await openSession(reg.request, 'up/chunks')
    const first = await patch(reg, location, whole.subarray(0, 4000), [0, 3999])
    assert.equal(first.status, 202)
    assert.equal(first.headers.get('range'), '0-3999')
    location = first.headers.get('location')!

    // A gap, an overlap and a repeat of the first chunk are all out of order.
    for (const [start, end] of [
      [5000, 5999],
      [3000, 4999],
      [0, 3999],
    ] as const) {
      const res = await patch(reg, location, whole.subarray(start, end + 1), [start, end])
      await expectError(res, 416, 'BLOB_UPLOAD_INVALID')
      assert.equal(await status(reg, location), '0-3999', `after ${start}-${end}`)
    }

    const second = await patch(reg, location, whole.subarray(4000, 9000), [4000, 8999])
    assert.equal(second.status, 202)
    assert.equal(second.headers.get('range'), '0-8999')
    const third = await patch(reg, location, whole.subarray(9000), [9000, 9999])
    assert.equal(third.headers.get('range'), '0-9999')
    const put = await reg.request(withQuery(location, `digest=${sha256(whole)}`), { method: 'PUT' })
    assertCreated(put, 'up/chunks', sha256(whole))
    await expectBlob(reg, 'up/chunks', sha256(whole), whole)
  })

  it('a Content-Length that disagrees with Content-Range is refused with 416', async () => {
    const location = await openSession(reg.request, 'up/length')
    const res = await reg.request(location, {
      method: 'PATCH',
      headers: { 'Content-Range': '0-9', 'Content-Length': '5' },
      body: Buffer.alloc(5),
    })
    assert.equal(res.status, 416)
    await res.body?.cancel()
    assert.equal(await status(reg, location), '0-0')
  })

  it('PUT ?digest= may carry the final chunk, with or without Content-Range', async () => {
    const whole = randomBytes(6000)
    const withRange = await openSession(reg.request, 'up/final')
    assert.equal((await patch(reg, withRange, whole.subarray(0, 2000), [0, 1999])).status, 202)
    const put = await reg.request(withQuery(withRange, `digest=${sha256(whole)}`), {
      method: 'PUT',
      headers: { 'Content-Range': '2000-5999', 'Content-Type': 'application/octet-stream' },
      body: whole.subarray(2000),
    })
    assertCreated(put, 'up/final', sha256(whole))
    await expectBlob(reg, 'up/final', sha256(whole), whole)

    // POST then PUT: the whole blob in the closing request, no PATCH at all.
    const other = randomBytes(3000)
    const single = await openSession(reg.request, 'up/final')
    const put2 = await reg.request(withQuery(single, `digest=${sha256(other)}`), {
      method: 'PUT',
      headers: {
        'Content-Type': 'application/octet-stream',
        'Content-Length': String(other.length),
      },
      body: other,
    })
    assertCreated(put2, 'up/final', sha256(other))
    await expectBlob(reg, 'up/final', sha256(other), other)
  })

  it('a final chunk whose Content-Range does not continue the session is 416; the session lives', async () => {
    const whole = randomBytes(100)
    const location = await openSession(reg.request, 'up/final-gap')
    assert.equal((await patch(reg, location, whole.subarray(0, 50), [0, 49])).status, 202)
    const res = await reg.request(withQuery(location, `digest=${sha256(whole)}`), {
      method: 'PUT',
      headers: { 'Content-Range': '60-99' },
      body: whole.subarray(60),
    })
    await expectError(res, 416, 'BLOB_UPLOAD_INVALID')
    assert.equal(await status(reg, location), '0-49')
    const fixed = await reg.request(withQuery(location, `digest=${sha256(whole)}`), {
      method: 'PUT',
      headers: { 'Content-Range': '50-99' },
      body: whole.subarray(50),
    })
    assertCreated(fixed, 'up/final-gap', sha256(whole))
  })

  it('PUT with a digest that does not match: 400 DIGEST_INVALID and nothing left behind', async () => {
    const before = await storedKeys(reg)
    const location = await openSession(reg.request, 'up/wrong')
    const bytes = Buffer.from('these bytes are not what the digest says')
    assert.equal((await patch(reg, location, bytes)).status, 202)
    const claimed = sha256('something else')
    const put = await reg.request(withQuery(location, `digest=${claimed}`), { method: 'PUT' })
    await expectError(put, 400, 'DIGEST_INVALID')
    assert.deepEqual(await storedKeys(reg), before, 'no session file and no blob')
    await expectError(await reg.request(location), 404, 'BLOB_UPLOAD_UNKNOWN')
    for (const digest of [claimed, sha256(bytes)]) {
      const res = await reg.request(`/v2/up/wrong/blobs/${digest}`, { method: 'HEAD' })
      assert.equal(res.status, 404)
    }
  })

  it('PUT without ?digest= is 400 DIGEST_INVALID and keeps the session', async () => {
    const location = await openSession(reg.request, 'up/nodigest')
    assert.equal((await patch(reg, location, Buffer.from('abc'))).status, 202)
    await expectError(await reg.request(location, { method: 'PUT' }), 400, 'DIGEST_INVALID')
    assert.equal(await status(reg, location), '0-2')
  })

  it('DELETE cancels a session: 204, then every use of it is 404 BLOB_UPLOAD_UNKNOWN', async () => {
    const before = await storedKeys(reg)
    const location = await openSession(reg.request, 'up/cancel')
    assert.equal((await patch(reg, location, randomBytes(100))).status, 202)
    const del = await reg.request(location, { method: 'DELETE' })
    assert.equal(del.status, 204)
    assert.deepEqual(await storedKeys(reg), before)
    await expectError(await reg.request(location), 404, 'BLOB_UPLOAD_UNKNOWN')
    await expectError(await patch(reg, location, Buffer.from('x')), 404, 'BLOB_UPLOAD_UNKNOWN')
    const put = await reg.request(withQuery(location, `digest=${sha256('')}`), { method: 'PUT' })
    await expectError(put, 404, 'BLOB_UPLOAD_UNKNOWN')
    await expectError(await reg.request(location, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN')
  })

  it('unknown and malformed session ids are 404 BLOB_UPLOAD_UNKNOWN', async () => {
    const ids = [randomUUID(), 'not-a-session', 'ABCDEF', '%2e%2e%2findex.json', 'x'.repeat(300)]
    for (const id of ids) {
      const path = `/v2/up/ids/blobs/uploads/${id}`
      await expectError(await reg.request(path), 404, 'BLOB_UPLOAD_UNKNOWN')
      await expectError(await patch(reg, path, Buffer.from('x')), 404, 'BLOB_UPLOAD_UNKNOWN')
      const put = await reg.request(`${path}?digest=${sha256('x')}`, { method: 'PUT', body: 'x' })
      await expectError(put, 404, 'BLOB_UPLOAD_UNKNOWN')
      await expectError(await reg.request(path, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN')
    }
  })

  it("a session belongs to its repository: another repository's path cannot reach it", async () => {
    const location = await openSession(reg.request, 'up/owner')
    const id = location.split('/').pop()!
    const foreign = `/v2/up/intruder/blobs/uploads/${id}`
    await expectError(await reg.request(foreign), 404, 'BLOB_UPLOAD_UNKNOWN')
    await expectError(await patch(reg, foreign, Buffer.from('x')), 404, 'BLOB_UPLOAD_UNKNOWN')
    assert.equal(await status(reg, location), '0-0')
  })

  it('sha512 digests work for monolithic and chunked uploads', async () => {
    const mono = randomBytes(4096)
    const monoDigest = sha512(mono)
    const res = await reg.request(`/v2/up/sha512/blobs/uploads/?digest=${monoDigest}`, {
      method: 'POST',
      body: mono,
    })
    assertCreated(res, 'up/sha512', monoDigest)
    await expectBlob(reg, 'up/sha512', monoDigest, mono)

    const chunked = randomBytes(9000)
    const location = await openSession(reg.request, 'up/sha512')
    assert.equal((await patch(reg, location, chunked.subarray(0, 5000), [0, 4999])).status, 202)
    assert.equal((await patch(reg, location, chunked.subarray(5000), [5000, 8999])).status, 202)
    const put = await reg.request(withQuery(location, `digest=${sha512(chunked)}`), {
      method: 'PUT',
    })
    assertCreated(put, 'up/sha512', sha512(chunked))
    await expectBlob(reg, 'up/sha512', sha512(chunked), chunked)

    // A wrong sha512 is refused like a wrong sha256.
    const wrong = await reg.request(`/v2/up/sha512/blobs/uploads/?digest=${sha512('other')}`, {
      method: 'POST',
      body: mono,
    })
    await expectError(wrong, 400, 'DIGEST_INVALID')
  })

  it('POST ?digest= with bytes that do not match leaves nothing behind', async () => {
    const before = await storedKeys(reg)
    const res = await reg.request(`/v2/up/mono-bad/blobs/uploads/?digest=${sha256('expected')}`, {
      method: 'POST',
      body: Buffer.from('actual'),
    })
    await expectError(res, 400, 'DIGEST_INVALID')
    assert.deepEqual(await storedKeys(reg), before)
  })
})
