// A response sent before its request's body was read: a manifest refused from its Content-Length
// (413), a 401, 404 or 429 to an upload, a body cut off at the manifest limit. Closing the
// connection at once would leave the rest of the body unread, and a close with unread bytes makes
// the TCP stack reset the connection: the client, still writing, gets EPIPE or ECONNRESET and may
// never read the answer. Keeping the connection alive instead would leave it waiting on the rest
// of a body nobody reads (a stop then waits the whole shutdown timeout). So, as RFC 9112 §9.6
// ("Tear-down") advises: answer with `Connection: close`, go on reading and discarding what the
// client still sends, up to LINGER.bytes or LINGER.ms, and only then close.
import type { IncomingMessage } from 'node:http'
import type { MiddlewareHandler } from 'hono'
import { hasBody, type AppEnv } from './body.js'

/**
 * How much of a refused body is read and dropped before the connection closes: twice the
 * manifest limit (4 MiB), so a client that sent an oversized manifest at full speed before it
 * could see the answer is read to its end and gets a clean close instead of a reset; and a few
 * seconds, so a slow sender does not hold the connection (or a stop) for long.
 */
export const LINGER = { bytes: 8 * 1024 * 1024, ms: 3000 }

/** Statuses whose response has no body (Fetch "null body status"): nothing to hold open. */
const NULL_BODY = new Set([101, 103, 204, 205, 304])

/** The outermost middleware: for an answer that left a body unread, close after a bounded drain. */
export function closeAfterUnreadBody(limits = LINGER): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next()
    const incoming = c.env?.incoming
    // In memory (app.request), a body read whole, or a response already written to the socket
    // (sendStream reads its request first): nothing is left on the wire.
    if (!incoming || incoming.complete || c.get('sent') || !hasBody(c)) return
    const res = c.res
    const headers = new Headers(res.headers)
    headers.set('Connection', 'close')
    if (NULL_BODY.has(res.status)) {
      c.res = new Response(null, { status: res.status, headers })
      return
    }
    // The whole answer goes out at once with its length, so the client can read it while the
    // drain runs; the response ends (and node closes the connection) when the drain is over.
    const bytes = new Uint8Array(await res.arrayBuffer())
    if (c.req.method !== 'HEAD') headers.set('Content-Length', String(bytes.length))
    const drained = drain(incoming, limits)
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        if (bytes.length > 0) controller.enqueue(bytes)
      },
      async pull(controller) {
        await drained
        controller.close()
      },
    })
    c.res = new Response(body, { status: res.status, headers })
  }
}

/**
 * Read and drop the rest of `incoming` until it ends, `limits.bytes` have been dropped,
 * `limits.ms` have passed or the connection is gone. A request already destroyed (a failed pipe
 * destroys its source) can no longer be read: the connection closes at once.
 */
function drain(incoming: IncomingMessage, limits: typeof LINGER): Promise<void> {
  return new Promise((resolve) => {
    if (incoming.destroyed || incoming.readableEnded) return resolve()
    let dropped = 0
    const done = () => {
      clearTimeout(timer)
      incoming.off('data', onData)
      incoming.off('end', done)
      incoming.off('close', done)
      incoming.off('error', done)
      resolve()
    }
    const onData = (chunk: Buffer) => {
      dropped += chunk.length
      if (dropped >= limits.bytes) done()
    }
    const timer = setTimeout(done, limits.ms)
    incoming.on('data', onData)
    incoming.once('end', done)
    incoming.once('close', done)
    incoming.once('error', done)
    incoming.resume()
  })
}
