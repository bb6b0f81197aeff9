// Small responses written straight to the Node response (src/http/body.ts sendReply, issue 17)
// over a real socket: the API version and the handler's headers arrive, a body is exact, and one
// keep-alive connection carries GET, HEAD and PUT one after another (a HEAD goes through Hono,
// which would otherwise write its headers a second time and reset the connection).
import assert from 'node:assert/strict'
import { Agent, request } from 'node:http'
import { after, describe, it } from 'node:test'
import { makeImage, pushImage, scratchDirs, socketServer, sha256 } from './helpers/harness.js'

const dir = scratchDirs()

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

describe('direct replies over a socket', () => {
  it('answers manifest and blob requests on one keep-alive connection', async () => {
    const server = await socketServer(await dir())
    after(() => server.close())
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    after(() => agent.destroy())
    const sockets = new Set<unknown>()
    const send = (method: string, path: string, body?: Buffer, type?: string) =>
      new Promise<Answer>((resolve, reject) => {
        const headers: Record<string, string | number> = {}
        if (body) headers['Content-Length'] = body.length
        if (type) headers['Content-Type'] = type
        const req = request(new URL(path, server.url), { method, agent, headers }, (res) => {
          sockets.add(res.socket)
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () =>
            resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
          )
        })
        req.on('error', reject)
        req.end(body)
      })
    const image = makeImage('direct')
    const fetchLike = async (path: string, init?: RequestInit) => {
      const a = await send(init?.method ?? 'GET', path, init?.body as Buffer | undefined)
      return new Response(a.status === 204 ? null : new Uint8Array(a.body), {
        status: a.status,
        headers: a.headers as Record<string, string>,
      })
    }
    const pushed = await pushImage(fetchLike, 'direct/app', image, 'v1')
    assert.equal(pushed.status, 201)
    for (let round = 0; round < 3; round++) {
      const put = await send('PUT', '/v2/direct/app/manifests/v1', image.manifest, image.mediaType)
      assert.equal(put.status, 201)
      assert.equal(put.headers['docker-content-digest'], image.digest)
      assert.equal(put.headers['docker-distribution-api-version'], 'registry/2.0')
      const head = await send('HEAD', '/v2/direct/app/manifests/v1')
      assert.equal(head.status, 200)
      assert.equal(head.headers['content-length'], String(image.manifest.length))
      assert.equal(head.body.length, 0)
      const get = await send('GET', '/v2/direct/app/manifests/v1')
      assert.equal(get.status, 200)
      assert.equal(get.headers['docker-distribution-api-version'], 'registry/2.0')
      assert.equal(get.headers['content-type'], image.mediaType)
      assert.ok(get.body.equals(image.manifest))
      const blob = await send('HEAD', `/v2/direct/app/blobs/${sha256(image.config)}`)
      assert.equal(blob.status, 200)
      assert.equal(blob.headers['content-length'], String(image.config.length))
    }
    assert.equal(sockets.size, 1, 'every request on the one keep-alive connection')
  })
})
