// Streaming over a real socket (node:http, so the test controls every write): a 64 MiB blob
// streamed up and back, and clients that vanish mid-upload or mid-download (docs/architecture.md
// §5.1, §5.2 and §5.8: verified before visible, nothing half-made left behind).
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { stat } from 'node:fs/promises'
import { request, type ClientRequest, type IncomingMessage } from 'node:http'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { layoutFiles, removeDir, socketServer, type RunningServer } from './helpers/harness.js'
import { rawRequest } from './helpers/api.js'

const MiB = 1024 * 1024
const BASE = randomBytes(MiB)

/** The i-th MiB of a test blob: distinct per index, made on demand so no blob is held whole. */
function chunkAt(i: number, seed: number): Buffer {
  const chunk = Buffer.from(BASE)
  chunk.writeUInt32BE(i, 0)
  chunk.writeUInt32BE(seed, 4)
  return chunk
}

function digestOf(chunks: number, seed: number): string {
  const hash = createHash('sha256')
  for (let i = 0; i < chunks; i++) hash.update(chunkAt(i, seed))
  return `sha256:${hash.digest('hex')}`
}

/** Start a request whose body the caller writes; `agent: false` gives it its own socket. */
function open(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): ClientRequest {
  const req = request(url, { method, path, headers, agent: false })
  req.on('error', () => {}) // a request the test cuts short reports ECONNRESET here
  return req
}

async function writeChunks(req: ClientRequest, from: number, to: number, seed: number) {
  for (let i = from; i < to; i++) {
    if (!req.write(chunkAt(i, seed))) await once(req, 'drain')
  }
}

async function finish(req: ClientRequest): Promise<IncomingMessage> {
  const response = once(req, 'response') as Promise<[IncomingMessage]>
  req.end()
  const [res] = await response
  res.resume()
  await once(res, 'end')
  return res
}

/** Stream a blob down and hash it as it arrives. */
async function pull(
  url: string,
  path: string,
): Promise<{ status: number; digest: string; size: number; res: IncomingMessage }> {
  const req = open(url, 'GET', path)
  req.end()
  const [res] = (await once(req, 'response')) as [IncomingMessage]
  const hash = createHash('sha256')
  let size = 0
  for await (const chunk of res) {
    hash.update(chunk as Buffer)
    size += (chunk as Buffer).length
  }
  return { status: res.statusCode!, digest: `sha256:${hash.digest('hex')}`, size, res }
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

async function startSession(url: string, repo: string): Promise<string> {
  const res = await rawRequest(url, 'POST', `/v2/${repo}/blobs/uploads/`)
  assert.equal(res.status, 202)
  return res.headers.get('location')!
}

describe('streaming over a socket', () => {
  let server: RunningServer & { root: string }
  before(async () => (server = await socketServer()))
  after(async () => {
    await server.close()
    await removeDir(server.root)
  })

  it('a 64 MiB blob streamed up in one PATCH of many writes comes back byte-identical', async () => {
    const chunks = 64
    const digest = digestOf(chunks, 1)
    const location = await startSession(server.url, 'stream/big')

    const patch = open(server.url, 'PATCH', location, {
      'Content-Type': 'application/octet-stream',
    })
    await writeChunks(patch, 0, chunks, 1)
    const patched = await finish(patch)
    assert.equal(patched.statusCode, 202)
    assert.equal(patched.headers.range, `0-${chunks * MiB - 1}`)

    const put = await rawRequest(server.url, 'PUT', `${location}?digest=${digest}`)
    assert.equal(put.status, 201, await put.clone().text())
    assert.equal(put.headers.get('docker-content-digest'), digest)

    const pulled = await pull(server.url, `/v2/stream/big/blobs/${digest}`)
    assert.equal(pulled.status, 200)
    assert.equal(pulled.res.headers['content-length'], String(chunks * MiB))
    assert.equal(pulled.res.headers['docker-content-digest'], digest)
    assert.equal(pulled.res.headers['docker-distribution-api-version'], 'registry/2.0')
    assert.equal(pulled.size, chunks * MiB)
    assert.equal(pulled.digest, digest)

    // A range from the middle of the blob, across a chunk boundary.
    const ranged = await rawRequest(server.url, 'GET', `/v2/stream/big/blobs/${digest}`, {
      headers: { Range: `bytes=${MiB - 4}-${MiB + 3}` },
    })
    assert.equal(ranged.status, 206)
    const expected = Buffer.concat([chunkAt(0, 1).subarray(MiB - 4), chunkAt(1, 1).subarray(0, 4)])
    assert.deepEqual(Buffer.from(await ranged.arrayBuffer()), expected)
  })

  it('a client that disconnects mid-PATCH leaves a resumable session holding what was stored', async () => {
    const chunks = 8
    const seed = 2
    const digest = digestOf(chunks, seed)
    const location = await startSession(server.url, 'stream/resume')
    const id = location.split('/').pop()!
    const sessionFile = join(server.root, 'stream/resume/.uploads', id)

    const patch = open(server.url, 'PATCH', location, {
      'Content-Type': 'application/octet-stream',
    })
    patch.flushHeaders()
    await writeChunks(patch, 0, 3, seed)
    // The session's staging file appears with its first bytes.
    const staged = async () => (await stat(sessionFile).catch(() => null))?.size ?? 0
    await until('the server stored some bytes', async () => (await staged()) >= MiB)
    patch.destroy() // the connection drops mid-body

    // Status waits for the broken PATCH to finish and reports exactly what the session file holds.
    const status = await rawRequest(server.url, 'GET', location)
    assert.equal(status.status, 204)
    const stored = (await stat(sessionFile)).size
    assert.ok(stored >= MiB && stored <= 3 * MiB, `stored ${stored}`)
    assert.equal(status.headers.get('range'), `0-${stored - 1}`)
    const head = await rawRequest(server.url, 'HEAD', `/v2/stream/resume/blobs/${digest}`)
    assert.equal(head.status, 404, 'nothing published yet')

    // Resume from the reported offset with a chunk that says where it starts, then close.
    const whole = Buffer.concat(Array.from({ length: chunks }, (_, i) => chunkAt(i, seed)))
    const rest = whole.subarray(stored)
    const resumed = await rawRequest(server.url, 'PATCH', location, {
      headers: {
        'Content-Range': `${stored}-${whole.length - 1}`,
        'Content-Length': String(rest.length),
      },
      body: rest,
    })
    assert.equal(resumed.status, 202, await resumed.clone().text())
    assert.equal(resumed.headers.get('range'), `0-${whole.length - 1}`)
    const put = await rawRequest(server.url, 'PUT', `${location}?digest=${digest}`)
    assert.equal(put.status, 201, await put.clone().text())
    const pulled = await pull(server.url, `/v2/stream/resume/blobs/${digest}`)
    assert.equal(pulled.digest, digest)
    assert.equal(pulled.size, whole.length)
  })

  it('a client that disconnects mid-POST ?digest= leaves nothing: no session, no blob', async () => {
    const chunks = 16
    const seed = 3
    const digest = digestOf(chunks, seed)
    const before = await layoutFiles(server.root)
    const post = open(server.url, 'POST', `/v2/stream/mono/blobs/uploads/?digest=${digest}`, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(chunks * MiB),
    })
    post.flushHeaders()
    await writeChunks(post, 0, 4, seed)
    await until('the server staged some bytes', async () =>
      (await layoutFiles(server.root)).some((f) => f.startsWith('stream/mono/.uploads/')),
    )
    post.destroy()

    await until('the staged bytes are gone', async () => {
      const files = await layoutFiles(server.root)
      return files.length === before.length
    })
    assert.deepEqual(await layoutFiles(server.root), before)
    assert.deepEqual(
      [...server.storage.db.sessions()].filter(([, s]) => s.repo === 'stream/mono'),
      [],
    )
    const head = await rawRequest(server.url, 'HEAD', `/v2/stream/mono/blobs/${digest}`)
    assert.equal(head.status, 404)
    const catalog = (await (await rawRequest(server.url, 'GET', '/v2/_catalog')).json()) as {
      repositories: string[]
    }
    assert.ok(!catalog.repositories.includes('stream/mono'))
  })

  it('a download cut mid-stream does not harm the server', async () => {
    const chunks = 16
    const seed = 4
    const digest = digestOf(chunks, seed)
    const post = open(server.url, 'POST', `/v2/stream/cut/blobs/uploads/?digest=${digest}`, {
      'Content-Length': String(chunks * MiB),
    })
    await writeChunks(post, 0, chunks, seed)
    assert.equal((await finish(post)).statusCode, 201)

    for (let attempt = 0; attempt < 3; attempt++) {
      const get = open(server.url, 'GET', `/v2/stream/cut/blobs/${digest}`)
      get.end()
      const [res] = (await once(get, 'response')) as [IncomingMessage]
      assert.equal(res.statusCode, 200)
      res.on('error', () => {})
      let received = 0
      for await (const chunk of res) {
        received += (chunk as Buffer).length
        if (received >= 2 * MiB) break // leaving the loop destroys the response and its socket
      }
      assert.ok(received < chunks * MiB)
      get.destroy()
    }

    // The server answers the next requests, whole and ranged, correctly.
    const base = await rawRequest(server.url, 'GET', '/v2/')
    assert.equal(base.status, 200)
    const pulled = await pull(server.url, `/v2/stream/cut/blobs/${digest}`)
    assert.equal(pulled.status, 200)
    assert.equal(pulled.digest, digest)
    const tail = await rawRequest(server.url, 'GET', `/v2/stream/cut/blobs/${digest}`, {
      headers: { Range: 'bytes=-10' },
    })
    assert.equal(tail.status, 206)
    assert.deepEqual(
      Buffer.from(await tail.arrayBuffer()),
      chunkAt(chunks - 1, seed).subarray(MiB - 10),
    )
  })
})
