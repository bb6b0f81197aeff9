// Limits (issue 7, "Access"): the per-client rate limit answers 429 TOOMANYREQUESTS with
// Retry-After and recovers; oversized headers get 431; an oversized manifest gets the spec's 413;
// and an upload body that stops delivering bytes is cut while a slow but moving one completes.
import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { parseConfig } from '../src/config/index.js'
import { TokenBuckets } from '../src/http/limits.js'
import { sha256, socketServer, type RunningServer } from './helpers/harness.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('limits', () => {
  let server: RunningServer & { root: string }
  let host: URL

  before(async () => {
    server = await socketServer(
      undefined,
      {},
      {
        http: {
          address: '127.0.0.1',
          port: 0,
          shutdownTimeoutMs: 2000,
          ratelimit: { methods: { DELETE: 2 } },
          maxHeaderSize: 2048,
          uploadIdleTimeoutMs: 600,
        },
      },
    )
    host = new URL(server.url)
  })
  after(() => server.close())

  it('parses zot ratelimit, maxHeaderSize and uploadIdleTimeout, and refuses bad values', () => {
    const config = parseConfig(
      JSON.stringify({
        storage: { rootDirectory: '/tmp' },
        http: {
          ratelimit: { rate: 10, methods: [{ method: 'get', rate: 50 }] },
          maxHeaderSize: '8KiB',
          uploadIdleTimeout: '30s',
        },
      }),
    )
    assert.deepEqual(config.http.ratelimit, { rate: 10, methods: { GET: 50 } })
    assert.equal(config.http.maxHeaderSize, 8192)
    assert.equal(config.http.uploadIdleTimeoutMs, 30_000)
    const defaults = parseConfig(JSON.stringify({ storage: { rootDirectory: '/tmp' } }))
    assert.equal(defaults.http.maxHeaderSize, 16384)
    assert.equal(defaults.http.uploadIdleTimeoutMs, 120_000)
    assert.equal(defaults.http.ratelimit, undefined)
    assert.throws(
      () => parseConfig('{"storage":{"rootDirectory":"/tmp"},"http":{"ratelimit":{"rate":0}}}'),
      /http\.ratelimit\.rate/,
    )
    assert.throws(
      () => parseConfig('{"storage":{"rootDirectory":"/tmp"},"http":{"maxHeaderSize":"1MB"}}'),
      /http\.maxHeaderSize/,
    )
  })

  it('token buckets: a burst of one second, then one request per 1/rate, per client', () => {
    let now = 0
    const buckets = new TokenBuckets({ rate: 2, methods: { PUT: 1 } }, () => now)
    assert.equal(buckets.take('a', 'GET'), 0)
    assert.equal(buckets.take('a', 'GET'), 0)
    assert.equal(buckets.take('a', 'GET'), 500) // empty: the next token in 500 ms
    assert.equal(buckets.take('b', 'GET'), 0) // another client has its own bucket
    assert.equal(buckets.take('a', 'PUT'), 0) // a method with its own rate has its own bucket
    assert.equal(buckets.take('a', 'PUT'), 1000)
    now = 500
    assert.equal(buckets.take('a', 'GET'), 0)
  })

  it('answers 429 TOOMANYREQUESTS with Retry-After past the rate, then recovers', async () => {
    // Only DELETE is limited (2/s): a GET is never refused.
    const del = () =>
      fetch(`${server.url}/v2/limited/manifests/${sha256('x')}`, { method: 'DELETE' })
    const statuses: number[] = []
    let refused: Response | undefined
    for (let i = 0; i < 5; i++) {
      const res = await del()
      statuses.push(res.status)
      if (res.status === 429) refused ??= res
      else await res.arrayBuffer()
    }
    assert.deepEqual(statuses.slice(0, 2), [404, 404])
    assert.ok(refused, `expected a 429 among ${statuses}`)
    const retry = Number(refused.headers.get('retry-after'))
    assert.ok(retry >= 1 && retry <= 2, `Retry-After ${retry}`)
    assert.equal(
      ((await refused.json()) as { errors: [{ code: string }] }).errors[0].code,
      'TOOMANYREQUESTS',
    )
    assert.equal((await fetch(`${server.url}/v2/`)).status, 200)
    await sleep(retry * 1000)
    assert.equal((await del()).status, 404, 'recovered after Retry-After')
  })

  it('answers 431 to headers over maxHeaderSize', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        {
          host: host.hostname,
          port: host.port,
          path: '/v2/',
          headers: { 'X-Big': 'a'.repeat(4096) },
        },
        (res) => resolve(res.statusCode!),
      )
      req.on('error', reject)
      req.end()
    })
    assert.equal(status, 431)
    assert.equal(
      (await fetch(`${server.url}/v2/`, { headers: { 'X-Small': 'a'.repeat(512) } })).status,
      200,
    )
  })

  it('refuses a manifest over 4 MiB with 413 SIZE_INVALID', async () => {
    const res = await fetch(`${server.url}/v2/big/manifests/v1`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
      body: Buffer.alloc(4 * 1024 * 1024 + 1, 0x20),
    })
    assert.equal(res.status, 413)
    assert.equal(
      ((await res.json()) as { errors: [{ code: string }] }).errors[0].code,
      'SIZE_INVALID',
    )
  })

  /** PATCH a chunked body, one chunk per `gaps` entry after waiting that long; `stallAfter`
   * chunks, stop writing. Resolves with the status, or 'cut' when the server closed on us. */
  async function dripUpload(
    gaps: number[],
    stall: boolean,
  ): Promise<{ outcome: number | 'cut'; ms: number }> {
    const start = await fetch(`${server.url}/v2/drip/blobs/uploads/`, { method: 'POST' })
    assert.equal(start.status, 202)
    const location = start.headers.get('location')!
    const began = performance.now()
    return new Promise((resolve) => {
      const req = httpRequest({
        host: host.hostname,
        port: host.port,
        method: 'PATCH',
        path: location,
        headers: { 'Content-Type': 'application/octet-stream', 'Transfer-Encoding': 'chunked' },
      })
      const done = (outcome: number | 'cut') => resolve({ outcome, ms: performance.now() - began })
      req.on('response', (res) => {
        res.resume()
        res.on('end', () => done(res.statusCode!))
      })
      req.on('error', () => done('cut'))
      // Without the idle timeout a stalled upload would hang forever: fail instead.
      setTimeout(() => {
        done(-1)
        req.destroy()
      }, 8000).unref()
      req.flushHeaders()
      ;(async () => {
        for (const gap of gaps) {
          await sleep(gap)
          if (req.destroyed) return
          req.write(Buffer.alloc(100, 0x61))
        }
        if (!stall) req.end()
      })()
    })
  }

  it('cuts an upload whose body stalls (idle timeout 600 ms)', async () => {
    const { outcome, ms } = await dripUpload([0, 100, 100], true)
    assert.equal(outcome, 'cut')
    // Cut after ~600 ms of silence (checked every 150 ms), not at once and not never.
    assert.ok(ms >= 600 && ms < 3000, `cut after ${ms} ms`)
  })

  it('lets a slow but moving upload run well past the idle timeout', async () => {
    const { outcome, ms } = await dripUpload(Array(12).fill(250), false)
    assert.equal(outcome, 202)
    assert.ok(ms > 2500, `took ${ms} ms, several idle timeouts long`)
  })
})
