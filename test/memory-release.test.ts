// The two places Outpost asks V8 to collect (with --expose-gc, as the unit runs it): every few
// MiB of streamed bytes (young generation: dead network buffers), and once after a burst of
// requests when the server falls quiet. Here `globalThis.gc` is a counting stand-in for V8's.
import assert from 'node:assert/strict'
import { createServer, request, type Server } from 'node:http'
import { once } from 'node:events'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { hashStream } from '../src/registry/hashing.js'
import { newHash } from '../src/registry/digest.js'
import { streamedBytes, YOUNG_GC_EVERY_BYTES } from '../src/registry/young-gc.js'
import { collectWhenQuiet, QUIET_MS } from '../src/server/idle-gc.js'
import { Readable } from 'node:stream'

type Call = { type?: string } | undefined
const calls: Call[] = []
const realGc = (globalThis as { gc?: unknown }).gc

before(() => {
  ;(globalThis as { gc?: unknown }).gc = (options?: { type?: string }) => void calls.push(options)
})
after(() => {
  ;(globalThis as { gc?: unknown }).gc = realGc
})

describe('young-generation collections while streaming', () => {
  it('collects once per YOUNG_GC_EVERY_BYTES of hashed stream, minor only', async () => {
    streamedBytes(YOUNG_GC_EVERY_BYTES) // start from a clean count
    calls.length = 0
    const chunk = Buffer.alloc(64 * 1024, 7)
    const chunks = (10 * YOUNG_GC_EVERY_BYTES) / chunk.length
    const tap = hashStream(Readable.from(Array.from({ length: chunks }, () => chunk)), [
      newHash('sha256'),
    ])
    for await (const _ of tap) {
      // consume
    }
    assert.equal(tap.bytes, 10 * YOUNG_GC_EVERY_BYTES)
    assert.equal(calls.length, 10)
    assert.ok(calls.every((c) => c?.type === 'minor'))
  })
})

describe('a full collection once the server falls quiet', () => {
  let server: Server
  let inFlight = 0
  let release: (() => void) | undefined
  let stop: () => void
  let url: string

  before(async () => {
    server = createServer((req, res) => {
      inFlight++
      const done = () => {
        inFlight--
        res.end('ok')
      }
      if (req.url === '/slow') release = done
      else done()
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const address = server.address() as { port: number }
    url = `http://127.0.0.1:${address.port}`
    stop = collectWhenQuiet(server, () => inFlight)
  })
  after(() => {
    stop()
    server.close()
  })

  const get = (path: string) =>
    new Promise<void>((resolve, reject) => {
      request(`${url}${path}`, (res) => res.resume().on('end', resolve))
        .on('error', reject)
        .end()
    })

  it('collects once after a burst, and not again while nothing happens', async () => {
    calls.length = 0
    for (let i = 0; i < 20; i++) await get('/')
    assert.equal(calls.length, 0, 'not while requests keep coming')
    await sleep(QUIET_MS * 3)
    assert.equal(calls.length, 1)
    assert.equal(calls[0], undefined, 'a full collection (no options)')
    await sleep(QUIET_MS * 3)
    assert.equal(calls.length, 1, 'an idle server is not collected again and again')
  })

  it('waits while a request is still in flight', async () => {
    calls.length = 0
    const slow = get('/slow')
    await sleep(QUIET_MS * 3)
    assert.equal(calls.length, 0, 'a download under way is not interrupted by a collection')
    release!()
    await slow
    await sleep(QUIET_MS * 3)
    assert.equal(calls.length, 1)
  })
})
