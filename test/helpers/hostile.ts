// Helpers for the hostile-input battery: requests written byte for byte on a raw TCP socket (no
// client library to normalise the path, drop a NUL or fix a bad Content-Length), the answer
// parsed from the wire, and the server process's resident memory read from /proc; then the
// hostile cases themselves, as bytes with the statuses and OCI codes that count as refusals.
import { connect, type Socket } from 'node:net'
import { readFile, readdir } from 'node:fs/promises'
import { makeImage, sha256 } from './harness.js'

export interface RawReply {
  status: number
  headers: Record<string, string>
  body: Buffer
}

export interface RawOptions {
  /** give up (reject) after this many ms without a complete answer */
  timeoutMs?: number
  /**
   * a slow-drip client: the first `from` bytes at once (default 0), then the rest in pieces of
   * `bytes`, `everyMs` apart
   */
  drip?: { bytes: number; everyMs: number; from?: number }
  /** called once the socket is open, e.g. to keep a handle on a slow request */
  onSocket?: (socket: Socket) => void
}

/** What a client hands its socket at a time. */
const PIECE = 64 * 1024

/**
 * One HTTP exchange on a fresh connection: `request` goes out exactly as given, up to the point
 * where the server has begun to answer.
 */
export function rawExchange(
  port: number,
  request: Buffer | string,
  options: RawOptions = {},
): Promise<RawReply> {
  const bytes = Buffer.isBuffer(request) ? request : Buffer.from(request, 'latin1')
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    options.onSocket?.(socket)
    const chunks: Buffer[] = []
    let timer: NodeJS.Timeout | undefined
    let drip: NodeJS.Timeout | undefined
    const finish = (err?: Error) => {
      clearTimeout(timer)
      clearInterval(drip)
      socket.destroy()
      if (err) return reject(err)
      try {
        resolve(parseReply(Buffer.concat(chunks)))
      } catch (e) {
        reject(e as Error)
      }
    }
    timer = setTimeout(
      () => finish(new Error(`no complete answer within ${options.timeoutMs ?? 10_000} ms`)),
      options.timeoutMs ?? 10_000,
    )
    socket.on('data', (d: Buffer) => {
      chunks.push(d)
      if (complete(Buffer.concat(chunks))) finish()
    })
    socket.on('end', () => finish())
    // The server may answer early and reset while the rest of the request is still being sent.
    socket.on('error', (err) => (chunks.length ? finish() : finish(err)))
    // In pieces, and no more once the answer has begun: a server that refuses a body from its
    // headers answers before reading it, drains a bounded amount and closes (src/http/
    // unread-body.ts); what the client wrote past that would be reset, and a write that fails
    // destroys the socket before the answer waiting in it is read.
    // One piece per turn of the event loop: a loopback socket takes megabytes without blocking,
    // so a tight loop would hand over the whole body before the answer was ever read, and a
    // write failing after the server closed would destroy the socket with the answer unread.
    let offset = 0
    const writeUntilAnswered = () => {
      if (offset >= bytes.length || chunks.length > 0 || socket.destroyed) return
      const piece = bytes.subarray(offset, offset + PIECE)
      offset += piece.length
      if (socket.write(piece)) setImmediate(writeUntilAnswered)
      else socket.once('drain', () => setImmediate(writeUntilAnswered))
    }
    socket.on('connect', () => {
      if (!options.drip) return writeUntilAnswered()
      const { bytes: step, everyMs, from = 0 } = options.drip
      let offset = from
      if (from > 0) socket.write(bytes.subarray(0, from))
      drip = setInterval(() => {
        if (offset >= bytes.length || socket.destroyed) return clearInterval(drip)
        socket.write(bytes.subarray(offset, offset + step))
        offset += step
      }, everyMs)
    })
  })
}

const HEAD_END = Buffer.from('\r\n\r\n')

/** Whether `data` holds a whole response (headers plus a Content-Length or chunked body). */
function complete(data: Buffer): boolean {
  const end = data.indexOf(HEAD_END)
  if (end < 0) return false
  const head = data.subarray(0, end).toString('latin1')
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)
  if (length) return data.length - end - 4 >= Number(length[1])
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) return data.includes('\r\n0\r\n\r\n', end)
  // HEAD replies and 204/304 carry no body.
  return /^HTTP\/1\.1 (204|304)/.test(head)
}

export function parseReply(data: Buffer): RawReply {
  const end = data.indexOf(HEAD_END)
  if (end < 0) throw new Error(`no HTTP answer: ${JSON.stringify(data.toString('latin1'))}`)
  const [statusLine, ...lines] = data.subarray(0, end).toString('latin1').split('\r\n')
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)
  if (!m) throw new Error(`bad status line ${JSON.stringify(statusLine)}`)
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  let body = data.subarray(end + 4)
  if (headers['transfer-encoding'] === 'chunked') body = dechunk(body)
  return { status: Number(m[1]), headers, body }
}

function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = []
  let at = 0
  for (;;) {
    const eol = data.indexOf('\r\n', at)
    if (eol < 0) break
    const size = parseInt(data.subarray(at, eol).toString('latin1'), 16)
    if (!size) break
    parts.push(data.subarray(eol + 2, eol + 2 + size))
    at = eol + 2 + size + 2
  }
  return Buffer.concat(parts)
}

/** A request as bytes: request line, headers (Host and Connection: close added), body. */
export function rawRequestBytes(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body: Buffer | string = '',
): Buffer {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close']
  const all = { ...headers }
  if (body.length && !Object.keys(all).some((h) => /^(content-length|transfer-encoding)$/i.test(h)))
    all['Content-Length'] = String(Buffer.byteLength(body))
  for (const [k, v] of Object.entries(all)) lines.push(`${k}: ${v}`)
  return Buffer.concat([
    Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'),
    Buffer.isBuffer(body) ? body : Buffer.from(body),
  ])
}

/** A process's resident set size in bytes (Linux /proc/<pid>/status VmRSS). */
export async function residentBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status)
  if (!m) throw new Error(`no VmRSS for ${pid}`)
  return Number(m[1]) * 1024
}

/** Every entry (files and directories) under `dir`, sorted: what a traversal would change. */
export async function entriesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).sort()
}

// --- the cases ------------------------------------------------------------------------------

export interface Case {
  label: string
  raw: Buffer
  /** the statuses that count as the right refusal */
  status: number[]
  /** the OCI error code(s) the JSON body must carry (first error) */
  code?: string | string[]
  check?: (reply: RawReply) => void
}

type Opts = { headers?: Record<string, string>; body?: Buffer | string; code?: string | string[] }

export function req(
  method: string,
  path: string,
  status: number | number[],
  opts: Opts = {},
): Case {
  return {
    label: `${method} ${path.slice(0, 100)}`,
    raw: rawRequestBytes(method, path, opts.headers, opts.body),
    status: [status].flat(),
    code: opts.code,
  }
}

export function wire(label: string, raw: string | Buffer, status: number | number[]): Case {
  const bytes = Buffer.isBuffer(raw) ? raw : Buffer.from(raw, 'latin1')
  return { label, raw: bytes, status: [status].flat() }
}

export const OCI = 'application/vnd.oci.image.manifest.v1+json'
const INDEX = 'application/vnd.oci.image.index.v1+json'
export const IMAGE = makeImage('hostile', 1)
export const LAYER = IMAGE.layers[0]
export const HEX = sha256(LAYER).slice('sha256:'.length)
export const BLOB = Buffer.from('a small blob')
export const BLOB_DIGEST = sha256(BLOB)
const BASE = JSON.parse(IMAGE.manifest.toString()) as Record<string, unknown>
const manifest = (fields: Record<string, unknown>) => JSON.stringify({ ...BASE, ...fields })
export const NAME_INVALID = { code: 'NAME_INVALID' }

// Names that must never reach the storage: traversal (encoded, double-encoded, backslashed),
// absolute paths, encoded slashes, NULs, layout entries and engine state.
export const HOSTILE_NAMES = [
  '..%2foutside',
  '%2e%2e%2f%2e%2e%2foutside',
  '..%2f..%2f..%2f..%2f..%2ftmp%2fpwned',
  '%252e%252e%252foutside',
  'a%5c..%5c..%5coutside',
  '%5c%5chost%5cshare',
  '%2fetc%2fpasswd',
  '%2F',
  'good%2fapp',
  'good%2Fapp',
  'good/app%2f..%2f..%2foutside',
  '_outpost',
  '_outpost/index',
  'a/_outpost',
  '.uploads',
  'good/app/.uploads',
  'good/app/blobs',
  'blobs/sha256',
  'index.json',
  'good/app/index.json',
  'oci-layout',
  'good%00',
  'a%00%2f..%2foutside',
  '%c0%ae%c0%ae',
  'a'.repeat(300),
]

export function nameCases(name: string): Case[] {
  return [
    req('POST', `/v2/${name}/blobs/uploads/?digest=${BLOB_DIGEST}`, 400, {
      body: BLOB,
      ...NAME_INVALID,
    }),
    req('POST', `/v2/${name}/blobs/uploads/`, 400, NAME_INVALID),
    req('PUT', `/v2/${name}/manifests/v1`, 400, {
      headers: { 'Content-Type': OCI },
      body: IMAGE.manifest,
      ...NAME_INVALID,
    }),
    req('GET', `/v2/${name}/tags/list`, 400, NAME_INVALID),
    req('GET', `/v2/${name}/manifests/v1`, 400, NAME_INVALID),
    req('DELETE', `/v2/${name}/blobs/${sha256(LAYER)}`, 400, NAME_INVALID),
  ]
}

export function hugeManifest(size: number): Case {
  return req('PUT', '/v2/good/app/manifests/big', 413, {
    headers: { 'Content-Type': OCI },
    body: Buffer.alloc(size, 0x20),
    code: 'SIZE_INVALID',
  })
}

/** Manifests that are not JSON, not a manifest, lie about sizes and digests, or are too big. */
export function manifestCases(): Case[] {
  const put = (
    label: string,
    body: string | Buffer,
    status: number,
    code: string | string[],
    type = OCI,
  ) => ({
    ...req('PUT', '/v2/good/app/manifests/bad', status, {
      headers: { 'Content-Type': type },
      body,
      code,
    }),
    label,
  })
  const invalid = 'MANIFEST_INVALID'
  const cfg = BASE.config as Record<string, unknown>
  const missing = {
    mediaType: 'application/vnd.oci.image.layer.v1.tar',
    digest: sha256('nope'),
    size: 4,
  }
  return [
    put('not JSON', 'nope', 400, invalid),
    put('empty', '', 400, invalid),
    put('3 MB of [', '['.repeat(3_000_000), 400, invalid),
    put('unterminated deep object', '{"a":'.repeat(500_000), 400, invalid),
    put('invalid UTF-8', Buffer.from([0xff, 0xfe, 0x7b, 0x7d]), 400, invalid),
    put('BOM', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), IMAGE.manifest]), 400, invalid),
    ...['null', '[]', '"str"', '123', 'true'].map((v) => put(v, v, 400, invalid)),
    put('schemaVersion 1', manifest({ schemaVersion: 1 }), 400, invalid),
    put('schemaVersion "2"', manifest({ schemaVersion: '2' }), 400, invalid),
    put('text/html', manifest({ mediaType: undefined }), 400, invalid, 'text/html'),
    put('no media type', manifest({ mediaType: undefined }), 400, invalid, ''),
    put('body/header mismatch', IMAGE.manifest, 400, invalid, INDEX),
    put('index with layers', manifest({ mediaType: INDEX, manifests: [] }), 400, invalid, INDEX),
    put('image with manifests', manifest({ manifests: [] }), 400, invalid),
    ...[-1, 1e300, 1.5, '5', 2 ** 53, null, -0.0001].map((size) =>
      put(`config size ${size}`, manifest({ config: { ...cfg, size } }), 400, invalid),
    ),
    put('wrong size', manifest({ config: { ...cfg, size: 12345 } }), 400, [
      invalid,
      'SIZE_INVALID',
    ]),
    put('layer size -1', manifest({ layers: [{ ...missing, size: -1 }] }), 400, invalid),
    put(
      'traversal digest',
      manifest({ config: { ...cfg, digest: 'sha256:..%2f..%2foutside' } }),
      400,
      invalid,
    ),
    put(
      'uppercase digest',
      manifest({ config: { ...cfg, digest: `sha256:${HEX.toUpperCase()}` } }),
      400,
      invalid,
    ),
    put('layers object', manifest({ layers: {} }), 400, invalid),
    put('config string', manifest({ config: 'x' }), 400, invalid),
    put('missing layer', manifest({ layers: [missing] }), 400, 'MANIFEST_BLOB_UNKNOWN'),
    put('subject size -5', manifest({ subject: { ...missing, size: -5 } }), 400, invalid),
    put('annotation object', manifest({ annotations: { a: { b: 1 } } }), 400, invalid),
    put(
      '__proto__ annotation',
      manifest({}).replace(/}$/, ',"annotations":{"__proto__":5}}'),
      400,
      invalid,
    ),
    put(
      '10k missing children',
      JSON.stringify({
        schemaVersion: 2,
        mediaType: INDEX,
        manifests: Array(10_000).fill({ ...missing, mediaType: OCI }),
      }),
      400,
      'MANIFEST_BLOB_UNKNOWN',
      INDEX,
    ),
    hugeManifest(4 * 1024 * 1024 + 1),
    // Claims 100 MB, sends two bytes: refused from the header, without waiting for the rest.
    wire(
      'claimed 100 MB',
      `PUT /v2/good/app/manifests/big HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: ${OCI}\r\nContent-Length: 104857600\r\n\r\n{}`,
      413,
    ),
    {
      ...put('chunked 5 MB', '', 413, 'SIZE_INVALID'),
      raw: Buffer.concat([
        rawRequestBytes('PUT', '/v2/good/app/manifests/big', {
          'Content-Type': OCI,
          'Transfer-Encoding': 'chunked',
        }),
        ...Array.from({ length: 5 }, () => Buffer.from(`100000\r\n${' '.repeat(0x100000)}\r\n`)),
        Buffer.from('0\r\n\r\n'),
      ]),
    },
  ]
}
