// A flaky uplink for resume tests: a TCP proxy on 127.0.0.1 in front of an HTTP upstream that
// cuts every upstream connection once it has passed N bytes of the upstream's answers to the
// client (headers count), as a link that drops long transfers does. No timers: where a
// connection is cut depends only on the bytes, so a test sees the same cuts on a busy machine.
// It reads the request heads going upstream, so a test can count the `Range` requests.
import * as net from 'node:net'
import type { AddressInfo } from 'node:net'

export interface SeenRequest {
  method: string
  path: string
  /** the request's Range header, when it had one */
  range?: string
  /** which connection (0, 1, ...) carried it */
  connection: number
}

/** Bytes a connection may carry to the client: a number, or one per connection (0, 1, ...). */
export type CutRule = number | ((connection: number) => number)

export interface CuttingProxy {
  url: string
  host: string
  /** change it at any time; applies to the bytes each connection passes from then on */
  cutAfter: CutRule
  /** every request head sent upstream, in order */
  readonly requests: SeenRequest[]
  /** connections cut so far */
  readonly cuts: number
  /** connections accepted so far (the next one is numbered this) */
  readonly connections: number
  /** the Range headers of GET requests whose path matched `pattern`, in order */
  ranges(pattern?: RegExp): string[]
  close(): Promise<void>
}

export async function cuttingProxy(target: string, cutAfter: CutRule): Promise<CuttingProxy> {
  const { hostname, port } = new URL(target)
  const sockets = new Set<net.Socket>()
  let connections = 0
  const state = {
    cutAfter,
    requests: [] as SeenRequest[],
    cuts: 0,
  }
  const server = net.createServer((client) => {
    const connection = connections++
    const upstream = net.connect(Number(port), hostname)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.once('close', () => sockets.delete(s))
      s.on('error', () => {
        client.destroy()
        upstream.destroy()
      })
    }
    client.once('close', () => upstream.destroy())
    upstream.once('close', () => client.destroySoon())
    const heads = requestHeads((head) => state.requests.push({ ...head, connection }))
    client.on('data', (chunk: Buffer) => {
      heads(chunk)
      upstream.write(chunk)
    })
    let passed = 0
    upstream.on('data', (chunk: Buffer) => {
      const rule = state.cutAfter
      const limit = typeof rule === 'function' ? rule(connection) : rule
      const room = limit - passed
      if (chunk.length < room) {
        passed += chunk.length
        if (!client.write(chunk)) {
          upstream.pause()
          client.once('drain', () => upstream.resume())
        }
        return
      }
      // The cut: the bytes up to the limit reach the client, then both sides are closed.
      if (room > 0) client.write(chunk.subarray(0, room))
      passed = limit
      state.cuts++
      upstream.destroy()
      client.destroySoon()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${address.port}`,
    host: `127.0.0.1:${address.port}`,
    get cutAfter() {
      return state.cutAfter
    },
    set cutAfter(rule: CutRule) {
      state.cutAfter = rule
    },
    requests: state.requests,
    get cuts() {
      return state.cuts
    },
    get connections() {
      return connections
    },
    ranges: (pattern = /./) =>
      state.requests
        .filter((r) => r.method === 'GET' && r.range !== undefined && pattern.test(r.path))
        .map((r) => r.range!),
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}

/**
 * A parser of the client's bytes that reports each HTTP/1.1 request head (RFC 9112 §2). Bodies
 * with a Content-Length are skipped; a chunked request body stops the parsing on that
 * connection (these tests only pull).
 */
function requestHeads(report: (head: Omit<SeenRequest, 'connection'>) => void) {
  let buffered = Buffer.alloc(0)
  let bodyLeft = 0
  let lost = false
  return (chunk: Buffer) => {
    if (lost) return
    buffered = Buffer.concat([buffered, chunk])
    for (;;) {
      if (bodyLeft > 0) {
        const skipped = Math.min(bodyLeft, buffered.length)
        bodyLeft -= skipped
        buffered = buffered.subarray(skipped)
        if (bodyLeft > 0) return
      }
      const end = buffered.indexOf('\r\n\r\n')
      if (end < 0) return
      const [line, ...fields] = buffered.subarray(0, end).toString('latin1').split('\r\n')
      buffered = buffered.subarray(end + 4)
      const [method, path] = line.split(' ')
      const headers = new Map(
        fields.map((f) => {
          const colon = f.indexOf(':')
          return [f.slice(0, colon).trim().toLowerCase(), f.slice(colon + 1).trim()] as const
        }),
      )
      const range = headers.get('range')
      report({ method, path, ...(range !== undefined && { range }) })
      if (headers.get('transfer-encoding')?.includes('chunked')) {
        lost = true
        return
      }
      bodyLeft = Number(headers.get('content-length') ?? 0)
    }
  }
}
