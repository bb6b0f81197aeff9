// A body the server refuses without reading it all (issue 14): the answer says `Connection:
// close`, the client can read it, and the server drops a bounded amount of what follows (LINGER
// in src/http/unread-body.ts: 8 MiB or 3 s) and then closes, instead of resetting the client
// mid-write or keeping the connection waiting on the rest of the body until a stop gives up after
// its shutdown timeout. Bounds asserted here are generous: they hold on a busy machine.
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { parseReply } from './helpers/hostile.js'
import { socketServer, type RunningServer } from './helpers/harness.js'

const OCI = 'application/vnd.oci.image.manifest.v1+json'
const MiB = 1024 * 1024
/** Well above LINGER's 3 s, well below the 30 s shutdown timeout the server is given. */
const CLOSES_WITHIN_MS = 12_000

interface Exchange {
  status: number
  headers: Record<string, string>
  /** the first OCI error code of the JSON body */
  code?: string
  /** how long after the answer the connection was closed, in ms */
  closedAfterMs: number
  /** request bytes the client handed to its socket */
  written: number
}

/**
 * PUT a manifest on a keep-alive connection (no `Connection: close` from the client): headers,
 * then `body()` pieces for as long as it yields them and the socket takes them. `answered`
 * resolves with the status once the server's answer has arrived; `closed` once the server has
 * closed the connection too, and rejects if that has not happened CLOSES_WITHIN_MS after the
 * answer.
 */
function put(
  port: number,
  headers: string[],
  body: () => Buffer | null,
): { answered: Promise<number>; closed: Promise<Exchange> } {
  let answer: (status: number) => void
  const answered = new Promise<number>((resolve) => (answer = resolve))
  const closed = new Promise<Exchange>((resolve, reject) => {
    const socket: Socket = connect(port, '127.0.0.1')
    const received: Buffer[] = []
    let answeredAt: number | undefined
    let written = 0
    let watchdog: NodeJS.Timeout | undefined
    const head = ['PUT /v2/big/app/manifests/v1 HTTP/1.1', 'Host: 127.0.0.1', ...headers]
    const send = () => {
      // Write as the socket takes it; a write refused once the server has closed is expected.
      for (let piece = body(); piece !== null && !socket.destroyed; piece = body()) {
        written += piece.length
        if (!socket.write(piece)) return void socket.once('drain', send)
      }
    }
    socket.on('connect', () => {
      socket.write(head.join('\r\n') + '\r\n\r\n')
      send()
    })
    socket.on('data', (d: Buffer) => {
      received.push(d)
      if (answeredAt !== undefined || !Buffer.concat(received).includes('\r\n\r\n')) return
      answeredAt = performance.now()
      answer(parseReply(Buffer.concat(received)).status)
      watchdog = setTimeout(() => {
        socket.destroy()
        reject(new Error(`the connection was still open ${CLOSES_WITHIN_MS} ms after the answer`))
      }, CLOSES_WITHIN_MS)
    })
    // EPIPE or ECONNRESET once the drain is over and the client is still writing: the answer
    // was read before it, which is what counts.
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(watchdog)
      if (answeredAt === undefined) return reject(new Error('closed without an answer'))
      const reply = parseReply(Buffer.concat(received))
      resolve({
        status: reply.status,
        headers: reply.headers,
        code: (JSON.parse(reply.body.toString()) as { errors: Array<{ code: string }> }).errors[0]
          .code,
        closedAfterMs: performance.now() - answeredAt,
        written,
      })
    })
  })
  return { answered, closed }
}

/** `count` chunks of 1 MiB in chunked transfer coding, then the last chunk; then null. */
function chunked(count: number): () => Buffer | null {
  const pieces = [
    ...Array.from({ length: count }, () => Buffer.from(`100000\r\n${' '.repeat(MiB)}\r\n`)),
    Buffer.from('0\r\n\r\n'),
  ]
  return () => pieces.shift() ?? null
}

describe('a body refused unread: Connection: close, a bounded drain, then the close', () => {
  let server: RunningServer

  before(async () => {
    server = await socketServer(
      undefined,
      {},
      { http: { address: '127.0.0.1', port: 0, shutdownTimeoutMs: 30_000 } },
    )
  })
  after(() => server?.close())

  it('a chunked 5 MB manifest: 413 SIZE_INVALID read by the client, then the server closes', async () => {
    const headers = [`Content-Type: ${OCI}`, 'Transfer-Encoding: chunked']
    const reply = await put(server.port, headers, chunked(5)).closed
    assert.equal(reply.status, 413)
    assert.equal(reply.code, 'SIZE_INVALID')
    assert.equal(reply.headers.connection, 'close')
    assert.ok(reply.closedAfterMs < CLOSES_WITHIN_MS, `closed ${reply.closedAfterMs} ms after`)
  })

  it('a declared 100 MB manifest whose client never stops sending: closed after a bounded drain', async () => {
    let left = 100 * MiB
    const piece = Buffer.alloc(64 * 1024, 0x20)
    const reply = await put(server.port, [`Content-Type: ${OCI}`, `Content-Length: ${left}`], () =>
      left > 0 ? ((left -= piece.length), piece) : null,
    ).closed
    assert.equal(reply.status, 413)
    assert.equal(reply.headers.connection, 'close')
    // Refused from its headers, then at most LINGER.bytes dropped: nowhere near the 100 MB.
    assert.ok(reply.written < 50 * MiB, `the server took ${reply.written} bytes`)
  })

  it('a declared manifest whose body never comes: closed after the drain time, not kept open', async () => {
    const reply = await put(
      server.port,
      [`Content-Type: ${OCI}`, `Content-Length: ${100 * MiB}`],
      () => null,
    ).closed
    assert.equal(reply.status, 413)
    assert.equal(reply.headers.connection, 'close')
  })

  it('a stop while a refused body is still arriving does not wait for the 30 s shutdown timeout', async () => {
    const headers = [`Content-Type: ${OCI}`, 'Transfer-Encoding: chunked']
    const refused = put(server.port, headers, chunked(5))
    assert.equal(await refused.answered, 413)
    const began = performance.now()
    await server.close()
    const took = performance.now() - began
    assert.ok(took < CLOSES_WITHIN_MS, `server.close() took ${Math.round(took)} ms`)
    assert.equal((await refused.closed).status, 413)
  })
})
