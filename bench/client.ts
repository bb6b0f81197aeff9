// The load generator's HTTP client: node:http over one keep-alive Agent per target. Bodies are
// streamed from an iterator with backpressure and hashed as they go; downloads are hashed as
// they arrive and never kept. The same code drives every target.
import type { Hash } from 'node:crypto'
import { Agent, request, type ClientRequest, type IncomingHttpHeaders } from 'node:http'

export interface Reply {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
}

export interface CallOptions {
  headers?: Record<string, string | number>
  body?: Buffer
}

export class RegistryClient {
  private readonly agent: Agent
  private readonly host: string
  private readonly port: number

  constructor(
    readonly base: URL,
    maxSockets: number,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets })
    this.host = base.hostname
    this.port = Number(base.port)
  }

  /** A path (with query) for a Location header, which may be absolute or relative. */
  resolve(location: string | undefined): string {
    if (!location) throw new Error('response had no Location header')
    const url = new URL(location, this.base)
    return url.pathname + url.search
  }

  /** A request with a small body (or none); the small reply body is read whole. */
  call(method: string, path: string, options: CallOptions = {}): Promise<Reply> {
    const headers: Record<string, string | number> = { ...options.headers }
    if (method !== 'GET' && method !== 'HEAD') headers['Content-Length'] = options.body?.length ?? 0
    return this.send(method, path, headers, (req) => req.end(options.body))
  }

  /** A request whose body is streamed from `pieces`; each piece is hashed as it is written. */
  stream(
    method: string,
    path: string,
    headers: Record<string, string | number>,
    pieces: Iterator<Buffer>,
    hash?: Hash,
  ): Promise<Reply> {
    return this.send(method, path, headers, (req) => {
      const pump = (): void => {
        for (;;) {
          const next = pieces.next()
          if (next.done) return void req.end()
          hash?.update(next.value)
          if (!req.write(next.value)) return void req.once('drain', pump)
        }
      }
      pump()
    })
  }

  /** GET a large body, hashing it as it arrives. */
  download(
    path: string,
    hash: Hash,
  ): Promise<{ status: number; headers: IncomingHttpHeaders; bytes: number }> {
    return new Promise((resolve, reject) => {
      const req = request(
        { host: this.host, port: this.port, method: 'GET', path, agent: this.agent },
        (res) => {
          let bytes = 0
          res.on('data', (chunk: Buffer) => {
            hash.update(chunk)
            bytes += chunk.length
          })
          res.once('error', reject)
          res.once('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes }),
          )
        },
      )
      req.once('error', reject)
      req.end()
    })
  }

  close(): void {
    this.agent.destroy()
  }

  private send(
    method: string,
    path: string,
    headers: Record<string, string | number>,
    writeBody: (req: ClientRequest) => void,
  ): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = request(
        { host: this.host, port: this.port, method, path, headers, agent: this.agent },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (chunk: Buffer) => chunks.push(chunk))
          res.once('error', reject)
          res.once('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks),
            }),
          )
        },
      )
      req.once('error', reject)
      writeBody(req)
    })
  }
}

/** Fail loudly when a reply is not the expected status: a benchmark of errors is worthless. */
export function expectStatus(reply: Reply, status: number, what: string): Reply {
  if (reply.status !== status) {
    const body = reply.body.toString('utf8').slice(0, 500)
    throw new Error(`${what}: expected HTTP ${status}, got ${reply.status}: ${body}`)
  }
  return reply
}
