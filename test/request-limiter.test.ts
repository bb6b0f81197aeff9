// zot's reqConcurrent and reqPerSec (issue 15): an UpstreamClient against a real HTTP server on
// 127.0.0.1 never has more requests in flight than reqConcurrent (a response body holds its slot
// until it closes) and never starts them faster than reqPerSec. Only bounds that a slow machine
// cannot break are asserted: in-flight counts, and a minimum spacing of starts.
import assert from 'node:assert/strict'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { parseConfig } from '../src/config/index.js'
import { RequestLimiter } from '../src/upstream/request-limiter.js'
import { UpstreamClient } from '../src/upstream/upstream-client.js'

function settings(url: string, limits: Record<string, number>) {
  const text = JSON.stringify({
    storage: { rootDirectory: '/srv/registry' },
    extensions: { sync: { registries: [{ urls: [url], onDemand: true, ...limits }] } },
  })
  const sync = parseConfig(text, 'test.json').sync
  assert.ok(sync)
  return sync.registries[0]
}

/** A client reads what it is sent: its body closes (and frees its slot) when the server ends it. */
function read<T extends { body: { resume(): unknown } }>(res: T): T {
  res.body.resume()
  return res
}

describe('upstream request limits (reqConcurrent, reqPerSec)', () => {
  let url: string
  let inFlight = 0
  let maxInFlight = 0
  const starts: number[] = []
  const held: ServerResponse[] = []
  const server = createServer((req, res) => {
    starts.push(performance.now())
    inFlight++
    maxInFlight = Math.max(maxInFlight, inFlight)
    res.once('close', () => inFlight--)
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' })
    res.write('x')
    // The body stays open until the test lets it end: the client's slot is held meanwhile.
    held.push(res)
  })

  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(() => {
    server.closeAllConnections()
    server.close()
  })

  it('reqConcurrent: a body holds its slot until it closes; no more than that in flight', async () => {
    const client = new UpstreamClient(settings(url, { reqConcurrent: 2 }))
    maxInFlight = 0
    const get = () => client.request('GET', 'r', '/v2/r/blobs/x').then(read)
    const responses = Array.from({ length: 6 }, get)
    let ended = 0
    // Serve them one by one: end a held body, then read the response it belonged to.
    while (ended < 6) {
      await new Promise((resolve) => setTimeout(resolve, 20))
      const res = held.shift()
      if (!res) continue
      res.end()
      ended++
    }
    for (const r of await Promise.all(responses)) assert.equal(r.status, 200)
    assert.equal(maxInFlight, 2, 'two requests in flight at most, and two at once')
    client.close()
  })

  it('reqPerSec: request starts are spaced 1/reqPerSec apart', async () => {
    const client = new UpstreamClient(settings(url, { reqPerSec: 20 }))
    starts.length = 0
    const get = () => client.request('GET', 'r', '/v2/r/blobs/y').then(read)
    const responses = Array.from({ length: 8 }, get)
    while (starts.length < 8) {
      await new Promise((resolve) => setTimeout(resolve, 20))
      for (const res of held.splice(0)) res.end()
    }
    await Promise.all(responses)
    for (const res of held.splice(0)) res.end()
    // 8 starts at 20/s take 7 × 50 ms; a slow machine only spaces them further, but the first
    // one's connection setup can delay its arrival: 80% of that (unpaced, all 8 land at once).
    const span = starts[7] - starts[0]
    assert.ok(span >= 7 * 50 * 0.8, `8 starts in ${span.toFixed(0)} ms`)
    client.close()
  })

  it('the limiter hands a freed slot to the first waiter, in arrival order', async () => {
    const limiter = new RequestLimiter({ concurrent: 1 })
    const order: number[] = []
    const first = await limiter.start()
    const waiting = [1, 2, 3].map((n) =>
      limiter.start().then((release) => (order.push(n), release)),
    )
    first()
    for (const w of waiting) (await w)()
    assert.deepEqual(order, [1, 2, 3])
  })
})
