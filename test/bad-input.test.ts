// Bad input costs nothing (docs/architecture.md §5.8): malformed names, digests, ranges and
// manifests get the spec's error code, leave no file behind, and never reach outside the root.
// After every bad request the layout's files are compared with what they were before.
import assert from 'node:assert/strict'
import { mkdir, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { backendFor } from './helpers/backend.js'
import {
  inMemoryRegistry,
  makeImage,
  pushImage,
  removeDir,
  sha256,
  socketServer,
  tempDir,
  type InMemoryRegistry,
} from './helpers/harness.js'
import {
  descOf,
  expectError,
  MT,
  openSession,
  rawRequest,
  sha512,
  snapshot,
  withQuery,
} from './helpers/api.js'

interface BadRequest {
  method?: string
  path: string
  body?: Buffer | string
  headers?: Record<string, string>
  status: number
  code: string
}

const DIGEST = sha256('some blob')
const BLOB = Buffer.from('some blob')

// Names the spec's grammar refuses, and names that would collide with the layout. A bare `.` or
// `..` path segment is resolved by URL parsing before any handler sees it (see the socket test
// below), so dot components arrive joined by an encoded slash.
const BAD_NAMES = [
  '..%2fa',
  'a%2f..',
  'a%2f..%2fb',
  'a%2f.%2fb',
  '...',
  'a//b',
  '/a',
  'a/',
  'Upper',
  'a/Upper',
  'blobs',
  'a/blobs',
  'a/blobs/b',
  'index.json',
  'a/index.json',
  'oci-layout',
  'a/oci-layout',
  '.hidden',
  'a/.uploads',
  '_outpost',
  'a/_private',
  'a-',
  'a..b',
  'a%00b',
  'a%5cb',
  'a%20b',
  'a'.repeat(256),
  `${'a'.repeat(200)}/${'b'.repeat(55)}`,
]

/** Every endpoint that takes a name, with a request that would otherwise be reasonable. */
function nameRequests(name: string): BadRequest[] {
  const bad = { status: 400, code: 'NAME_INVALID' }
  return [
    { path: `/v2/${name}/tags/list`, ...bad },
    { path: `/v2/${name}/manifests/latest`, ...bad },
    { method: 'PUT', path: `/v2/${name}/manifests/latest`, body: '{}', ...bad },
    { method: 'DELETE', path: `/v2/${name}/manifests/latest`, ...bad },
    { path: `/v2/${name}/blobs/${DIGEST}`, ...bad },
    { method: 'DELETE', path: `/v2/${name}/blobs/${DIGEST}`, ...bad },
    { method: 'POST', path: `/v2/${name}/blobs/uploads/`, ...bad },
    { method: 'POST', path: `/v2/${name}/blobs/uploads/?digest=${DIGEST}`, body: BLOB, ...bad },
    { method: 'POST', path: `/v2/good/app/blobs/uploads/?mount=${DIGEST}&from=${name}`, ...bad },
    { path: `/v2/${name}/referrers/${DIGEST}`, ...bad },
  ]
}

const BAD_DIGESTS = [
  'sha256:abc',
  `sha256:${'a'.repeat(63)}`,
  `sha256:${'a'.repeat(65)}`,
  `sha256:${'A'.repeat(64)}`,
  `sha256:${'g'.repeat(64)}`,
  `sha512:${'a'.repeat(64)}`,
  `md5:${'a'.repeat(32)}`,
  `sha1:${'a'.repeat(40)}`,
  `SHA256:${'a'.repeat(64)}`,
  `:${'a'.repeat(64)}`,
  'a'.repeat(64),
  'sha256:',
  `sha256:..%2f..%2f${'a'.repeat(58)}`,
]

describe('bad input', () => {
  let parent: string
  let root: string
  let outside: string
  let reg: InMemoryRegistry
  let session: string

  before(async () => {
    // <parent>/root is the registry; <parent>/outside is what a traversal would reach.
    parent = await tempDir('outpost-bad-input-')
    root = join(parent, 'root')
    outside = join(parent, 'outside')
    await mkdir(root)
    await mkdir(outside)
    reg = await inMemoryRegistry({ root })
    assert.equal((await pushImage(reg.request, 'good/app', makeImage('good', 1), 'v1')).status, 201)
    session = await openSession(reg.request, 'good/app')
    const res = await reg.request(session, {
      method: 'PATCH',
      headers: { 'Content-Range': '0-9' },
      body: Buffer.alloc(10, 1),
    })
    assert.equal(res.status, 202)
  })
  after(async () => {
    await reg.close()
    await removeDir(parent)
  })

  /** Send `req`, check its error, and check that the files are exactly as they were. */
  async function refuse(req: BadRequest): Promise<void> {
    const before = await snapshot(reg, outside)
    const res = await reg.request(req.path, {
      method: req.method ?? 'GET',
      headers: req.headers,
      body: req.body,
    })
    const label = `${req.method ?? 'GET'} ${req.path.slice(0, 120)}`
    await expectError(res, req.status, req.code).catch((err: Error) => {
      throw new Error(`${label}: ${err.message}`)
    })
    assert.deepEqual(await snapshot(reg, outside), before, `${label} left files behind`)
    assert.deepEqual((await readdir(parent)).sort(), ['outside', 'root'], label)
  }

  it('invalid repository names are 400 NAME_INVALID on every endpoint', async () => {
    for (const name of BAD_NAMES) for (const req of nameRequests(name)) await refuse(req)
  })

  it('a name of exactly 255 characters is accepted, 256 is not', async () => {
    const name = `${'n'.repeat(127)}/${'m'.repeat(127)}`
    assert.equal(name.length, 255)
    const res = await reg.request(`/v2/${name}/blobs/uploads/?digest=${DIGEST}`, {
      method: 'POST',
      body: BLOB,
    })
    assert.equal(res.status, 201)
    await refuse({
      method: 'POST',
      path: `/v2/${name}x/blobs/uploads/?digest=${DIGEST}`,
      body: BLOB,
      status: 400,
      code: 'NAME_INVALID',
    })
  })

  it('percent-encoded traversal never reaches outside the root', async () => {
    const escapes = [
      '%2e%2e%2foutside',
      '%2e%2e%2F%2e%2e%2Foutside',
      '..%2foutside',
      'a%2f%2e%2e%2f%2e%2e%2foutside',
      '%252e%252e%252foutside',
    ]
    for (const name of escapes) {
      const requests: BadRequest[] = [
        {
          method: 'POST',
          path: `/v2/${name}/blobs/uploads/?digest=${DIGEST}`,
          body: BLOB,
          status: 400,
          code: 'NAME_INVALID',
        },
        {
          method: 'PUT',
          path: `/v2/${name}/manifests/v1`,
          body: '{}',
          status: 400,
          code: 'NAME_INVALID',
        },
        { path: `/v2/${name}/tags/list`, status: 400, code: 'NAME_INVALID' },
      ]
      for (const req of requests) await refuse(req)
    }
    // Through the other path parameters: the session id, the digest and the reference.
    const via: BadRequest[] = [
      {
        method: 'PATCH',
        path: '/v2/good/app/blobs/uploads/%2e%2e%2f%2e%2e%2f%2e%2e%2foutside%2fx',
        body: BLOB,
        status: 404,
        code: 'BLOB_UPLOAD_UNKNOWN',
      },
      {
        method: 'PUT',
        path: `/v2/good/app/blobs/uploads/..%2f..%2findex.json?digest=${DIGEST}`,
        body: BLOB,
        status: 404,
        code: 'BLOB_UPLOAD_UNKNOWN',
      },
      {
        path: `/v2/good/app/blobs/sha256:..%2f..%2f..%2foutside`,
        status: 400,
        code: 'DIGEST_INVALID',
      },
      {
        method: 'PUT',
        path: '/v2/good/app/manifests/..%2f..%2f..%2foutside%2fm',
        body: '{}',
        status: 400,
        code: 'MANIFEST_INVALID',
      },
      // Not a tag nor a digest: names no manifest (distribution-spec "Pulling manifests").
      {
        method: 'DELETE',
        path: '/v2/good/app/manifests/..%2findex.json',
        status: 404,
        code: 'MANIFEST_UNKNOWN',
      },
      {
        path: '/v2/good/app/manifests/..%2f..%2findex.json',
        status: 404,
        code: 'MANIFEST_UNKNOWN',
      },
    ]
    for (const req of via) await refuse(req)
  })

  it('malformed escapes are 400, not a server error', async () => {
    await refuse({ path: '/v2/a%zz/tags/list', status: 400, code: 'NAME_INVALID' })
    await refuse({ path: '/v2/good/app/blobs/sha256%3a%zz', status: 400, code: 'DIGEST_INVALID' })
    await refuse({
      path: '/v2/good/app/blobs/uploads/%zz',
      status: 404,
      code: 'BLOB_UPLOAD_UNKNOWN',
    })
  })

  it('malformed digests and unknown algorithms are 400 DIGEST_INVALID wherever a digest goes', async () => {
    for (const digest of BAD_DIGESTS) {
      const q = encodeURIComponent(digest)
      const requests: BadRequest[] = [
        { path: `/v2/good/app/blobs/${digest}`, status: 400, code: 'DIGEST_INVALID' },
        {
          method: 'DELETE',
          path: `/v2/good/app/blobs/${digest}`,
          status: 400,
          code: 'DIGEST_INVALID',
        },
        {
          method: 'POST',
          path: `/v2/good/app/blobs/uploads/?digest=${q}`,
          body: BLOB,
          status: 400,
          code: 'DIGEST_INVALID',
        },
        {
          method: 'POST',
          path: `/v2/good/new/blobs/uploads/?mount=${q}&from=good/app`,
          status: 400,
          code: 'DIGEST_INVALID',
        },
        {
          method: 'PUT',
          path: withQuery(session, `digest=${q}`),
          status: 400,
          code: 'DIGEST_INVALID',
        },
        { path: `/v2/good/app/referrers/${digest}`, status: 400, code: 'DIGEST_INVALID' },
      ]
      for (const req of requests) await refuse(req)
    }
    // The session survived every refused close.
    const status = await reg.request(session)
    assert.equal(status.status, 204)
    assert.equal(status.headers.get('range'), '0-9')
  })

  it('bytes that do not match their digest are 400 DIGEST_INVALID and leave nothing', async () => {
    for (const digest of [sha256('other bytes'), sha512('other bytes')]) {
      await refuse({
        method: 'POST',
        path: `/v2/good/app/blobs/uploads/?digest=${digest}`,
        body: BLOB,
        status: 400,
        code: 'DIGEST_INVALID',
      })
      await refuse({
        method: 'POST',
        path: `/v2/brand/new/blobs/uploads/?digest=${digest}`,
        body: BLOB,
        status: 400,
        code: 'DIGEST_INVALID',
      })
      // POST, PATCH, then a PUT with the wrong digest: the session goes, and nothing else stays.
      const before = await snapshot(reg, outside)
      const location = await openSession(reg.request, 'brand/new')
      assert.equal((await reg.request(location, { method: 'PATCH', body: BLOB })).status, 202)
      const put = await reg.request(withQuery(location, `digest=${digest}`), { method: 'PUT' })
      await expectError(put, 400, 'DIGEST_INVALID')
      assert.deepEqual(await snapshot(reg, outside), before)
    }
  })

  it('Content-Range gaps, overlaps and malformed ranges are 416 and change nothing', async () => {
    const chunk = (range: string, length: number): BadRequest => ({
      method: 'PATCH',
      path: session,
      headers: { 'Content-Range': range },
      body: Buffer.alloc(length, 2),
      status: 416,
      code: 'BLOB_UPLOAD_INVALID',
    })
    for (const req of [
      chunk('11-20', 10), // gap of one byte
      chunk('100-109', 10), // far gap
      chunk('9-18', 10), // overlap of one byte
      chunk('0-9', 10), // the first chunk again
      chunk('5-4', 1), // end before start
      chunk('bytes=10-19', 10),
      chunk('ten-twenty', 10),
      chunk('-10', 10),
      chunk('10-', 10),
    ]) {
      await refuse(req)
    }
    // The same on a closing PUT.
    await refuse({
      method: 'PUT',
      path: withQuery(session, `digest=${DIGEST}`),
      headers: { 'Content-Range': '12-20' },
      body: Buffer.alloc(9),
      status: 416,
      code: 'BLOB_UPLOAD_INVALID',
    })
    const status = await reg.request(session)
    assert.equal(status.headers.get('range'), '0-9')
  })

  it('manifests that are not JSON, too large, or reference missing blobs are refused', async () => {
    const config = descOf(MT.ociConfig, Buffer.from('missing config'))
    const missing = JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config,
      layers: [],
    })
    const oversize = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20)
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      manifests: [{ ...config, mediaType: MT.ociManifest }],
    })
    for (const repo of ['good/app', 'never/created']) {
      const put = (
        body: string | Buffer,
        status: number,
        code: string,
        type: string = MT.ociManifest,
      ): BadRequest => ({
        method: 'PUT',
        path: `/v2/${repo}/manifests/v1`,
        headers: { 'Content-Type': type },
        body,
        status,
        code,
      })
      await refuse(put('not json at all', 400, 'MANIFEST_INVALID'))
      await refuse(put('{"schemaVersion":2,"mediaType":', 400, 'MANIFEST_INVALID'))
      await refuse(put(Buffer.from([0xff, 0xfe, 0x00, 0x7b]), 400, 'MANIFEST_INVALID'))
      await refuse(put('', 400, 'MANIFEST_INVALID'))
      await refuse(put(oversize, 413, 'SIZE_INVALID'))
      await refuse(put(missing, 400, 'MANIFEST_BLOB_UNKNOWN'))
      await refuse(put(index, 400, 'MANIFEST_BLOB_UNKNOWN', MT.ociIndex))
    }
    // The tag that was there is untouched.
    assert.equal((await reg.request('/v2/good/app/manifests/v1')).status, 200)
  })
})

describe('dot segments over a real socket', () => {
  it('raw `..` and `.` segments (as curl --path-as-is sends them) never reach outside the root', async () => {
    const parent = await tempDir('outpost-dots-')
    const root = join(parent, 'root')
    const outside = join(parent, 'outside')
    await mkdir(root)
    await mkdir(outside)
    // The server opens the same store as `backend` (on S3, the same bucket prefix); `backend`'s
    // drivers only read it, for the snapshots.
    const backend = await backendFor(root)
    const server = await socketServer(root, backend.storage)
    try {
      const push = await rawRequest(
        server.url,
        'POST',
        `/v2/good/blobs/uploads/?digest=${DIGEST}`,
        { body: BLOB },
      )
      assert.equal(push.status, 201)
      const requests: Array<[string, string, (Buffer | string)?]> = [
        ['POST', `/v2/../outside/blobs/uploads/?digest=${DIGEST}`, BLOB],
        ['POST', `/v2/good/../../outside/blobs/uploads/?digest=${DIGEST}`, BLOB],
        ['POST', `/v2/%2e%2e/outside/blobs/uploads/?digest=${DIGEST}`, BLOB],
        ['POST', `/v2/./good/../../../outside/blobs/uploads/`],
        ['PUT', '/v2/../../outside/manifests/v1', '{}'],
        ['PATCH', '/v2/good/blobs/uploads/../../../outside/x', BLOB],
        ['PUT', `/v2/good/blobs/uploads/..%2f..%2f..%2foutside%2fx?digest=${DIGEST}`, BLOB],
        ['GET', '/v2/good/blobs/../../../../outside'],
        ['GET', '/v2/good\\..\\..\\outside/tags/list'],
      ]
      for (const [method, path, body] of requests) {
        const before = await snapshot(backend, outside)
        const res = await rawRequest(server.url, method, path, { body })
        assert.ok(res.status >= 400 && res.status < 500, `${method} ${path}: ${res.status}`)
        const text = await res.text()
        if (text !== '') assert.ok(JSON.parse(text).errors, text)
        assert.deepEqual(await snapshot(backend, outside), before, `${method} ${path}`)
        assert.deepEqual((await readdir(parent)).sort(), ['outside', 'root'])
      }
    } finally {
      await server.close()
      backend.close()
      await removeDir(parent)
    }
  })
})
