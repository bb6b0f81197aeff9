// One upstream registry as the pull-through cache sees it: GET/HEAD of manifests, blobs and
// referrers (distribution-spec "Pulling manifests", "Pulling blobs", "Listing Referrers") with
// the auth registries ask for: none, HTTP Basic from zot's credentials file, or the bearer-token
// challenge flow (Docker's token spec: a 401 with `WWW-Authenticate: Bearer realm=...,
// service=...,scope=...` sends us to the realm for a token, cached until it expires).
// Several URLs are mirrors of one upstream: each is tried in turn when one cannot be reached.
import { readdirSync, readFileSync } from 'node:fs'
import * as http from 'node:http'
import * as https from 'node:https'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { retryDelayFor, type UpstreamSettings } from '../config/sync.js'
import { RequestLimiter } from './request-limiter.js'

export interface Credentials {
  username: string
  password: string
}

/** The upstream could not answer (unreachable, 5xx, refused our credentials). */
export class UpstreamError extends Error {
  constructor(
    readonly upstream: string,
    message: string,
    readonly status?: number,
  ) {
    super(`upstream ${upstream}: ${message}`)
    this.name = 'UpstreamError'
  }
}

/** An answer longer than what it may hold (see readBytes): not a cut link, not worth a retry. */
export class BodyTooLarge extends Error {
  constructor(limit: number) {
    super(`body exceeds ${limit} bytes`)
    this.name = 'BodyTooLarge'
  }
}

export interface UpstreamResponse {
  status: number
  headers: http.IncomingHttpHeaders
  body: Readable
}

export interface RequestOptions {
  accept?: string
  /** retry unreachable upstreams and 5xx answers; off when a cached copy can answer instead */
  retry?: boolean
  /** give up waiting for the response headers after this long */
  timeoutMs?: number
  /** RFC 9110 §14.2 Range header (`bytes=<first>-`): the rest of a blob whose start we hold */
  range?: string
}

interface Token {
  value: string
  expiresAt: number
}

/** A client waits on an on-demand fetch: zot's retryDelay (default 5m) is capped for it. */
export const MAX_INLINE_RETRY_DELAY_MS = 1000
const DEFAULT_TIMEOUT_MS = 30_000

export class UpstreamClient {
  readonly name: string
  private readonly agents = new Map<string, http.Agent>()
  private readonly tokens = new Map<string, Token>()
  /** zot's reqConcurrent and reqPerSec, across this upstream's URLs and token services */
  private readonly limiter: RequestLimiter

  constructor(
    private readonly settings: UpstreamSettings,
    /** zot's credentials file: "host:port" -> {username, password} */
    private readonly credentials: Record<string, Credentials> = {},
  ) {
    this.name = new URL(settings.urls[0]).host
    this.limiter = new RequestLimiter({
      concurrent: settings.reqConcurrent,
      perSecond: settings.reqPerSec,
    })
  }

  /** Whether `host` (containerd's ?ns=) names this upstream. */
  serves(host: string): boolean {
    const hosts = this.settings.urls.map((u) => new URL(u).host)
    // containerd names Docker Hub "docker.io"; its registry answers at registry-1.docker.io.
    if (host === 'docker.io') return hosts.includes('registry-1.docker.io') || hosts.includes(host)
    return hosts.includes(host)
  }

  /** GET or HEAD `path` (under /v2/), for repository `repo` (the token's scope). */
  async request(
    method: 'GET' | 'HEAD',
    repo: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<UpstreamResponse> {
    const attempts = options.retry ? this.settings.maxRetries + 1 : 1
    let last: unknown
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0)
        await sleep(Math.min(retryDelayFor(this.settings, attempt), MAX_INLINE_RETRY_DELAY_MS))
      for (const base of this.settings.urls) {
        try {
          const res = await this.authorized(method, base, repo, path, options)
          if (res.status >= 500 || res.status === 429) {
            res.body.resume()
            last = new UpstreamError(this.name, `answered ${res.status}`, res.status)
            continue
          }
          return await this.followRedirect(method, base, res, options)
        } catch (err) {
          last = err instanceof UpstreamError ? err : new UpstreamError(this.name, describe(err))
        }
      }
    }
    throw last
  }

  /**
   * Blob storage behind a registry (S3, a CDN) is reached by redirect: followed without our
   * credentials, which belong to the registry, not to wherever it points.
   */
  private async followRedirect(
    method: string,
    base: string,
    res: UpstreamResponse,
    options: RequestOptions,
  ): Promise<UpstreamResponse> {
    for (let hops = 0; hops < 5; hops++) {
      const location = res.headers.location
      if (![301, 302, 303, 307, 308].includes(res.status) || !location) return res
      res.body.resume()
      res = await this.send(method, new URL(location, base).toString(), undefined, options)
    }
    return res
  }

  /** One request with whatever auth the upstream asks for. */
  private async authorized(
    method: string,
    base: string,
    repo: string,
    path: string,
    options: RequestOptions,
  ): Promise<UpstreamResponse> {
    const host = new URL(base).host
    const scope = `repository:${repo}:pull`
    const cached = this.tokens.get(`${host} ${scope}`)
    const basic = this.basicHeader(host)
    let auth = cached && cached.expiresAt > Date.now() ? `Bearer ${cached.value}` : basic
    const res = await this.send(method, `${base}${path}`, auth, options)
    if (res.status !== 401) return res
    res.body.resume()
    const challenge = parseChallenge(String(res.headers['www-authenticate'] ?? ''))
    if (challenge?.scheme !== 'bearer' || !challenge.params.realm) {
      throw new UpstreamError(
        this.name,
        basic ? 'refused our credentials' : 'asks for credentials',
        401,
      )
    }
    const token = await this.fetchToken(host, challenge.params, scope)
    this.tokens.set(`${host} ${scope}`, token)
    auth = `Bearer ${token.value}`
    const again = await this.send(method, `${base}${path}`, auth, options)
    if (again.status === 401) {
      again.body.resume()
      throw new UpstreamError(this.name, 'refused the token its realm issued', 401)
    }
    return again
  }

  private async fetchToken(
    host: string,
    params: Record<string, string>,
    scope: string,
  ): Promise<Token> {
    const url = new URL(params.realm)
    if (params.service) url.searchParams.set('service', params.service)
    url.searchParams.set('scope', params.scope ?? scope)
    const res = await this.send('GET', url.toString(), this.basicHeader(host), {})
    const text = await readText(res.body)
    if (res.status !== 200) {
      throw new UpstreamError(this.name, `token service ${url.host} answered ${res.status}`, 401)
    }
    const body = JSON.parse(text) as { token?: string; access_token?: string; expires_in?: number }
    const value = body.token ?? body.access_token
    if (!value) throw new UpstreamError(this.name, `token service ${url.host} sent no token`)
    // Docker's token spec: 60 s when expires_in is missing. Renew a little early.
    const lifetime = Math.max((body.expires_in ?? 60) - 5, 1)
    return { value, expiresAt: Date.now() + lifetime * 1000 }
  }

  private basicHeader(host: string): string | undefined {
    const c = this.credentials[host]
    if (!c) return undefined
    return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`
  }

  private async send(
    method: string,
    url: string,
    authorization: string | undefined,
    options: RequestOptions,
  ): Promise<UpstreamResponse> {
    const release = await this.limiter.start()
    try {
      const res = await this.exchange(method, url, authorization, options)
      res.body.once('close', release)
      return res
    } catch (err) {
      release()
      throw err
    }
  }

  private exchange(
    method: string,
    url: string,
    authorization: string | undefined,
    options: RequestOptions,
  ): Promise<UpstreamResponse> {
    const target = new URL(url)
    const secure = target.protocol === 'https:'
    return new Promise((resolve, reject) => {
      const req = (secure ? https : http).request(
        target,
        {
          method,
          agent: this.agent(target),
          headers: {
            ...(options.accept && { Accept: options.accept }),
            ...(authorization && { Authorization: authorization }),
            ...(options.range && { Range: options.range }),
            'User-Agent': 'outpost-pull-through',
          },
        },
        (res) => {
          res.once('close', () => clearTimeout(timer))
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res })
        },
      )
      // Idle time on the socket: no headers yet, or a body that stopped moving.
      const idleMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
      req.setTimeout(idleMs, () => req.destroy(new Error(`no data for ${idleMs} ms`)))
      // zot's syncTimeout: the whole exchange, body included, ends by then.
      const total = this.settings.syncTimeoutMs
      const timer = setTimeout(
        () => req.destroy(new Error(`not done within syncTimeout (${total} ms)`)),
        total,
      ).unref()
      req.once('close', () => clearTimeout(timer))
      req.once('error', reject)
      req.end()
    })
  }

  /** One keep-alive agent per origin, with the TLS settings of zot's tlsVerify and certDir. */
  private agent(target: URL): http.Agent {
    const key = target.origin
    let agent = this.agents.get(key)
    if (agent) return agent
    // zot's maxIdleConnsPerHost: idle keep-alive sockets kept per origin.
    const idle = this.settings.maxIdleConnsPerHost
    const pool = { keepAlive: true, ...(idle !== undefined && { maxFreeSockets: idle }) }
    if (target.protocol === 'https:') {
      agent = new https.Agent({
        ...pool,
        rejectUnauthorized: this.settings.tlsVerify,
        ...certDirOptions(this.settings.certDir),
      })
    } else agent = new http.Agent(pool)
    this.agents.set(key, agent)
    return agent
  }

  close(): void {
    for (const agent of this.agents.values()) agent.destroy()
    this.agents.clear()
  }
}

/**
 * certDir as Docker's certs.d and zot read it: *.crt are CAs to trust, a client.cert (or
 * *.cert) with its .key is our client certificate.
 */
export function certDirOptions(dir: string | undefined): https.AgentOptions {
  if (!dir) return {}
  const files = readdirSync(dir)
  const ca = files.filter((f) => f.endsWith('.crt')).map((f) => readFileSync(join(dir, f)))
  const cert = files.find((f) => f.endsWith('.cert'))
  const key = cert && files.find((f) => f === cert.replace(/\.cert$/, '.key'))
  return {
    ...(ca.length && { ca }),
    ...(cert && key && { cert: readFileSync(join(dir, cert)), key: readFileSync(join(dir, key)) }),
  }
}

/** RFC 7235 challenge: `Bearer realm="...",service="...",scope="..."`. */
export function parseChallenge(
  header: string,
): { scheme: string; params: Record<string, string> } | undefined {
  const m = /^\s*(\w+)\s*(.*)$/.exec(header)
  if (!m) return undefined
  const params: Record<string, string> = {}
  for (const p of m[2].matchAll(/(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g)) {
    params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]
  }
  return { scheme: m[1].toLowerCase(), params }
}

export async function readText(body: Readable, limit = 4 * 1024 * 1024): Promise<string> {
  return (await readBytes(body, limit)).toString('utf8')
}

/** A small body whole; more than `limit` bytes is an upstream failure, not a buffer to grow. */
export async function readBytes(body: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of body) {
    total += (chunk as Buffer).length
    if (total > limit) {
      body.destroy()
      throw new BodyTooLarge(limit)
    }
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException
  return e?.code ? `${e.code} ${e.message}` : String(e?.message ?? err)
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
