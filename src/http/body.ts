// Request and response bodies without copies. Under @hono/node-server the handlers read the Node
// request and write the Node response directly (piping measured at ~0% CPU over node:http, while
// Readable.toWeb costs ~14% on downloads); under app.request() in tests they fall back to the
// Web body, so the same handlers run in both. A body is consumed one way only.
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Context } from 'hono'
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import { RegistryError } from '../registry/index.js'
import { fileSourceOf } from '../storage/index.js'
import { sendFile } from './send-file.js'

/** distribution-spec: every /v2/ response names the API version. */
export const API_VERSION_HEADER = { 'Docker-Distribution-API-Version': 'registry/2.0' } as const

export interface NodeBindings {
  incoming?: IncomingMessage
  outgoing?: ServerResponse
}

export interface SentInfo {
  status: number
  bytes: number
}

export type AppEnv = {
  Bindings: NodeBindings
  Variables: { route: string; sent?: SentInfo }
}

export type AppContext = Context<AppEnv>

export function requestStream(c: AppContext): Readable {
  const incoming = c.env?.incoming
  if (incoming) return incoming
  const body = c.req.raw.body
  return body
    ? Readable.fromWeb(body as import('node:stream/web').ReadableStream)
    : Readable.from([])
}

/** Aborts when the client goes away before the response is complete. */
export function connectionSignal(c: AppContext): AbortSignal {
  const outgoing = c.env?.outgoing
  if (!outgoing) return c.req.raw.signal
  const controller = new AbortController()
  outgoing.once('close', () => {
    if (!outgoing.writableFinished) controller.abort(new Error('client disconnected'))
  })
  return controller.signal
}

/** True when the request carries a body (Content-Length > 0 or a chunked transfer). */
export function hasBody(c: AppContext): boolean {
  const length = c.req.header('content-length')
  if (length !== undefined) return Number(length) > 0
  if (c.req.header('transfer-encoding') !== undefined) return true
  // A Web Request (app.request, fetch handlers) carries no framing headers until it is sent.
  return !c.env?.incoming && c.req.raw.body !== null
}

/**
 * Read a small body whole, refusing more than `limit` bytes without buffering them. A refused
 * body is left paused, not destroyed: a destroyed request stops node's parser reading the
 * connection, and the rest must be drained before it closes (unread-body.ts).
 */
export async function readBody(c: AppContext, limit: number): Promise<Buffer> {
  const declared = Number(c.req.header('content-length') ?? NaN)
  if (declared > limit) throw tooLarge(limit)
  const stream = requestStream(c)
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let total = 0
    const stop = () => {
      stream.off('data', onData)
      stream.off('end', onEnd)
      stream.off('error', onError)
      stream.off('close', onClose)
    }
    const onData = (chunk: Buffer) => {
      total += chunk.length
      if (total <= limit) return void chunks.push(chunk)
      stop()
      stream.pause()
      reject(tooLarge(limit))
    }
    const onEnd = () => {
      stop()
      resolve(Buffer.concat(chunks))
    }
    const onError = (err: Error) => {
      stop()
      reject(err)
    }
    // The client went away mid-body (what a for-await over the stream reports the same way).
    const onClose = () =>
      onError(Object.assign(new Error('premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }))
    stream.on('data', onData)
    stream.on('end', onEnd)
    stream.on('error', onError)
    stream.on('close', onClose)
  })
}

function tooLarge(limit: number): RegistryError {
  return new RegistryError('MANIFEST_TOO_LARGE', `body exceeds ${limit} bytes`)
}

/**
 * A response whose body is at hand (a manifest, a HEAD, an upload's 201/202): under Node it is
 * written straight to the Node response, without the Response and Headers objects Hono and its
 * adapter would build and then translate back (issue 17: less work per small request). Only the
 * API version is added: the handlers using this set no other header through c.header(). A HEAD
 * goes through Hono: it answers HEAD by running the GET route and wrapping what it returns in a
 * new Response, which the adapter would then write a second time.
 */
export function sendReply(
  c: AppContext,
  status: number,
  headers: Record<string, string>,
  body?: Uint8Array,
): Response {
  const outgoing = c.req.method === 'HEAD' ? undefined : c.env?.outgoing
  if (!outgoing) {
    if (!body || c.req.method === 'HEAD') return c.body(null, status as 200, headers)
    return c.body(new Uint8Array(body), status as 200, headers)
  }
  outgoing.writeHead(status, { ...API_VERSION_HEADER, ...headers })
  outgoing.end(body)
  c.set('sent', { status, bytes: body?.length ?? 0 })
  return RESPONSE_ALREADY_SENT
}

/** Stream `body` as the response; under Node it is piped straight into the socket. */
export async function sendStream(
  c: AppContext,
  status: number,
  headers: Record<string, string>,
  body: Readable,
): Promise<Response> {
  const outgoing = c.env?.outgoing
  // Through c.body / c.res the headers set earlier with c.header() (the API version) go out too.
  if (!outgoing) return c.body(Readable.toWeb(body) as ReadableStream, status as 200, headers)
  // Not through c.res: reading it makes Hono build a response of its own, and the adapter would
  // then try to write headers a second time (ERR_HTTP_HEADERS_SENT).
  outgoing.writeHead(status, { ...API_VERSION_HEADER, ...headers })
  const sent: SentInfo = { status, bytes: 0 }
  c.set('sent', sent)
  const file = fileSourceOf(body)
  try {
    if (file) {
      try {
        await sendFile(file, outgoing, (bytes) => (sent.bytes += bytes))
      } finally {
        body.destroy() // closes the file
      }
    } else {
      body.on('data', (chunk: Buffer) => (sent.bytes += chunk.length))
      await pipeline(body, outgoing)
    }
  } catch {
    // The client went away mid-download: nothing to answer, and nothing was written to storage.
  }
  return RESPONSE_ALREADY_SENT
}
