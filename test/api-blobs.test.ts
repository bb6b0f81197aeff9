// The base endpoint, routing errors, and blob pull / range / delete (distribution-spec end-1,
// end-2, end-10), driven in memory through app.request().
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  inMemoryRegistry,
  makeImage,
  pushImage,
  sha256,
  type InMemoryRegistry,
} from './helpers/harness.js'
import { bodyBytes, expectError, pushBlob } from './helpers/api.js'

describe('base endpoint and routing', () => {
  let reg: InMemoryRegistry
  before(async () => (reg = await inMemoryRegistry()))
  after(async () => reg.close())

  it('GET and HEAD /v2/ answer 200 with the API version header', async () => {
    for (const path of ['/v2/', '/v2']) {
      const res = await reg.request(path)
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0')
      assert.deepEqual(await res.json(), {})
    }
    const head = await reg.request('/v2/', { method: 'HEAD' })
    assert.equal(head.status, 200)
    assert.equal(head.headers.get('docker-distribution-api-version'), 'registry/2.0')
    assert.equal(await head.text(), '')
  })

  it('unknown endpoints answer 404 with an OCI error body', async () => {
    for (const path of ['/v2/foo', '/v2/foo/bar', '/v2/foo/tags/list/extra', '/v2/foo/blobs/']) {
      const res = await reg.request(path)
      assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0')
      await expectError(res, 404, 'UNSUPPORTED')
    }
    await expectError(await reg.request('/nothing-here'), 404, 'UNSUPPORTED')
  })

  it('a method an endpoint does not support answers 405 UNSUPPORTED with Allow', async () => {
    const cases: Array<[string, string, string[]]> = [
      ['POST', '/v2/', ['GET', 'HEAD']],
      ['DELETE', '/v2/foo/tags/list', ['GET', 'HEAD']],
      ['PUT', '/v2/_catalog', ['GET', 'HEAD']],
      ['PATCH', '/v2/foo/manifests/v1', ['DELETE', 'GET', 'HEAD', 'PUT']],
      ['POST', `/v2/foo/blobs/${sha256('x')}`, ['DELETE', 'GET', 'HEAD']],
      ['GET', '/v2/foo/blobs/uploads/', ['POST']],
      ['PUT', `/v2/foo/referrers/${sha256('x')}`, ['GET', 'HEAD']],
    ]
    for (const [method, path, allowed] of cases) {
      const res = await reg.request(path, { method })
      const allow = (res.headers.get('allow') ?? '').split(',').map((m) => m.trim())
      assert.deepEqual(allow.sort(), allowed, `${method} ${path}`)
      await expectError(res, 405, 'UNSUPPORTED')
    }
  })
})

describe('blobs: pull, ranges, delete', () => {
  let reg: InMemoryRegistry
  const repo = 'team/pull'
  const blob = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz')
  let digest: string
  before(async () => {
    reg = await inMemoryRegistry()
    digest = await pushBlob(reg.request, repo, blob)
  })
  after(async () => reg.close())

  it('GET returns the exact bytes with Content-Length and Docker-Content-Digest', async () => {
    const res = await reg.request(`/v2/${repo}/blobs/${digest}`)
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-length'), String(blob.length))
    assert.equal(res.headers.get('docker-content-digest'), digest)
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0')
    assert.deepEqual(await bodyBytes(res), blob)
  })

  it('HEAD answers the size and digest without a body', async () => {
    const res = await reg.request(`/v2/${repo}/blobs/${digest}`, { method: 'HEAD' })
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-length'), String(blob.length))
    assert.equal(res.headers.get('docker-content-digest'), digest)
    assert.equal((await bodyBytes(res)).length, 0)
  })

  it('one Range answers 206 with Content-Range and exactly those bytes', async () => {
    const size = blob.length
    const cases: Array<[string, number, number]> = [
      ['bytes=2-5', 2, 5],
      ['bytes=0-0', 0, 0],
      ['bytes=-4', size - 4, size - 1], // suffix
      ['bytes=30-', 30, size - 1], // open-ended
      ['bytes=10-9999', 10, size - 1], // end past the blob is clamped (RFC 9110)
      [`bytes=-${size + 10}`, 0, size - 1], // suffix longer than the blob
    ]
    for (const [range, start, end] of cases) {
      const res = await reg.request(`/v2/${repo}/blobs/${digest}`, { headers: { Range: range } })
      assert.equal(res.status, 206, range)
      assert.equal(res.headers.get('content-range'), `bytes ${start}-${end}/${size}`, range)
      assert.equal(res.headers.get('content-length'), String(end - start + 1), range)
      assert.deepEqual(await bodyBytes(res), blob.subarray(start, end + 1), range)
    }
  })

  it('HEAD with a Range answers 206 and the range length', async () => {
    const res = await reg.request(`/v2/${repo}/blobs/${digest}`, {
      method: 'HEAD',
      headers: { Range: 'bytes=1-3' },
    })
    assert.equal(res.status, 206)
    assert.equal(res.headers.get('content-range'), `bytes 1-3/${blob.length}`)
    assert.equal(res.headers.get('content-length'), '3')
  })

  it('an unsatisfiable range answers 416 with Content-Range bytes */size', async () => {
    for (const range of [
      `bytes=${blob.length}-`,
      `bytes=${blob.length + 5}-${blob.length + 9}`,
      'bytes=-0',
    ]) {
      const res = await reg.request(`/v2/${repo}/blobs/${digest}`, { headers: { Range: range } })
      assert.equal(res.headers.get('content-range'), `bytes */${blob.length}`, range)
      assert.equal(res.status, 416, range)
      await res.body?.cancel()
    }
  })

  it('a Range that is not one byte range is ignored: the whole blob, 200', async () => {
    for (const range of ['bytes=0-1,4-5', 'items=0-3', 'bytes=5-2', 'bytes=-']) {
      const res = await reg.request(`/v2/${repo}/blobs/${digest}`, { headers: { Range: range } })
      assert.equal(res.status, 200, range)
      assert.equal(res.headers.get('content-range'), null)
      assert.deepEqual(await bodyBytes(res), blob, range)
    }
  })

  it('an unknown blob answers 404 BLOB_UNKNOWN to GET and HEAD, also in another repository', async () => {
    const unknown = sha256('never pushed')
    await expectError(await reg.request(`/v2/${repo}/blobs/${unknown}`), 404, 'BLOB_UNKNOWN')
    const head = await reg.request(`/v2/${repo}/blobs/${unknown}`, { method: 'HEAD' })
    await expectError(head, 404, 'BLOB_UNKNOWN', 'HEAD')
    // A blob belongs to the repository it was pushed to.
    await expectError(await reg.request(`/v2/other/blobs/${digest}`), 404, 'BLOB_UNKNOWN')
  })

  it('an empty blob is served with Content-Length 0', async () => {
    const empty = await pushBlob(reg.request, repo, Buffer.alloc(0))
    assert.equal(empty, sha256(''))
    const res = await reg.request(`/v2/${repo}/blobs/${empty}`)
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-length'), '0')
    assert.equal((await bodyBytes(res)).length, 0)
  })

  it('DELETE answers 202, then the blob is gone (404), and a second DELETE is 404', async () => {
    const doomed = await pushBlob(reg.request, repo, Buffer.from('delete me'))
    const del = await reg.request(`/v2/${repo}/blobs/${doomed}`, { method: 'DELETE' })
    assert.equal(del.status, 202)
    await expectError(await reg.request(`/v2/${repo}/blobs/${doomed}`), 404, 'BLOB_UNKNOWN')
    const head = await reg.request(`/v2/${repo}/blobs/${doomed}`, { method: 'HEAD' })
    assert.equal(head.status, 404)
    const again = await reg.request(`/v2/${repo}/blobs/${doomed}`, { method: 'DELETE' })
    await expectError(again, 404, 'BLOB_UNKNOWN')
  })

  it('DELETE of a blob a manifest still references is 405 UNSUPPORTED and keeps the blob', async () => {
    const image = makeImage('referenced', 1)
    assert.equal((await pushImage(reg.request, 'team/held', image, 'v1')).status, 201)
    for (const held of [image.config, image.layers[0]]) {
      const d = sha256(held)
      const del = await reg.request(`/v2/team/held/blobs/${d}`, { method: 'DELETE' })
      await expectError(del, 405, 'UNSUPPORTED')
      const res = await reg.request(`/v2/team/held/blobs/${d}`)
      assert.equal(res.status, 200)
      assert.deepEqual(await bodyBytes(res), held)
    }
    // The manifest itself is stored as a blob of the repository: it is held by index.json.
    const own = await reg.request(`/v2/team/held/blobs/${image.digest}`, { method: 'DELETE' })
    await expectError(own, 405, 'UNSUPPORTED')

    // Once the manifest is deleted, nothing holds the layer and it may go.
    const delManifest = await reg.request(`/v2/team/held/manifests/${image.digest}`, {
      method: 'DELETE',
    })
    assert.equal(delManifest.status, 202)
    const layer = sha256(image.layers[0])
    assert.equal(
      (await reg.request(`/v2/team/held/blobs/${layer}`, { method: 'DELETE' })).status,
      202,
    )
    await expectError(await reg.request(`/v2/team/held/blobs/${layer}`), 404, 'BLOB_UNKNOWN')
  })

  it('malformed digests in the blob path answer 400 DIGEST_INVALID', async () => {
    for (const bad of [
      'sha256:abc',
      'md5:' + 'a'.repeat(32),
      'nonsense',
      `sha256:${'A'.repeat(64)}`,
    ]) {
      await expectError(await reg.request(`/v2/${repo}/blobs/${bad}`), 400, 'DIGEST_INVALID')
      const del = await reg.request(`/v2/${repo}/blobs/${bad}`, { method: 'DELETE' })
      await expectError(del, 400, 'DIGEST_INVALID')
    }
  })
})
