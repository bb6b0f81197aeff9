// Real upstream registries for the pull-through tests: Debian's docker-registry (CNCF
// distribution 2.8) on 127.0.0.1, plain, behind htpasswd basic auth, or behind a bearer-token
// service this helper runs (distribution's `auth.token`: the registry trusts a self-signed
// certificate made with openssl; the service signs RS256 JWTs carrying that certificate in x5c).
// A counting (and optionally throttling) proxy in front of a registry sees every request.
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { createSign, randomUUID, X509Certificate } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { sha256 } from './harness.js'

const run = promisify(execFile)

export interface Upstream {
  url: string
  host: string
  stop(): Promise<void>
}

export interface TokenService {
  url: string
  /** tokens issued so far */
  issued: number
  certPath: string
  close(): Promise<void>
}

type Auth =
  | { kind: 'none' }
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'token'; service: TokenService }

/** A port nobody listens on right now (the registry binds it itself). */
async function freePort(): Promise<number> {
  const s = http.createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const { port } = s.address() as AddressInfo
  await new Promise((resolve) => s.close(resolve))
  return port
}

/** docker-registry storing under `root` on a fresh port; `port` to come back on the same one. */
export async function startRegistry(
  root: string,
  auth: Auth = { kind: 'none' },
  port?: number,
): Promise<Upstream> {
  port ??= await freePort()
  const lines = [
    'version: 0.1',
    'log: {level: error, accesslog: {disabled: true}}',
    `storage: {filesystem: {rootdirectory: ${JSON.stringify(join(root, 'data'))}}, delete: {enabled: true}}`,
    `http: {addr: "127.0.0.1:${port}", secret: ${JSON.stringify(randomUUID())}}`,
  ]
  if (auth.kind === 'basic') {
    // bcrypt, the only scheme distribution's htpasswd accepts, from libxcrypt through perl
    // (apache2-utils' htpasswd is not installed here).
    const salt = `$2b$05$${Buffer.from(randomUUID()).toString('base64').replace(/[+=]/g, '.').slice(0, 22)}`
    const { stdout } = await run('perl', [
      '-e',
      'print crypt($ARGV[0], $ARGV[1])',
      auth.password,
      salt,
    ])
    if (!stdout.startsWith('$2b$')) throw new Error(`perl crypt made no bcrypt hash: ${stdout}`)
    const file = join(root, 'htpasswd')
    await writeFile(file, `${auth.username}:${stdout}\n`)
    lines.push(`auth: {htpasswd: {realm: outpost-test, path: ${JSON.stringify(file)}}}`)
  } else if (auth.kind === 'token') {
    lines.push(
      `auth: {token: {realm: "${auth.service.url}/token", service: upstream-test, issuer: outpost-test-issuer, rootcertbundle: ${JSON.stringify(auth.service.certPath)}}}`,
    )
  }
  const config = join(root, `config-${port}.yml`)
  await writeFile(config, lines.join('\n') + '\n')
  const child: ChildProcess = spawn('docker-registry', ['serve', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let errors = ''
  child.stderr!.on('data', (d) => (errors += d))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; ; i++) {
    try {
      await fetch(`${url}/v2/`)
      break
    } catch {
      if (child.exitCode !== null || i > 100)
        throw new Error(`docker-registry did not start: ${errors}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  return {
    url,
    host: `127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM')
      await exited
    },
  }
}

/** A bearer-token service (Docker's token spec) for a registry configured with `auth.token`. */
export async function startTokenService(
  dir: string,
  credentials?: { username: string; password: string },
): Promise<TokenService> {
  const keyPath = join(dir, 'token.key')
  const certPath = join(dir, 'token.crt')
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    keyPath,
    '-out',
    certPath,
    '-days',
    '1',
    '-subj',
    '/CN=outpost-test-token',
  ])
  const key = await readFile(keyPath, 'utf8')
  const cert = new X509Certificate(await readFile(certPath))
  const b64url = (v: string | Buffer) => Buffer.from(v).toString('base64url')
  const service: TokenService = { url: '', issued: 0, certPath, close: async () => {} }
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x')
    if (credentials) {
      const expected = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`
      if (req.headers.authorization !== expected) {
        res.writeHead(401).end()
        return
      }
    }
    // "repository:name:pull,push" -> the access claim distribution checks.
    const access = url.searchParams.getAll('scope').map((scope) => {
      const [type, name, actions] = scope.split(':')
      return { type, name, actions: actions.split(',') }
    })
    const now = Math.floor(Date.now() / 1000)
    const header = { alg: 'RS256', typ: 'JWT', x5c: [cert.raw.toString('base64')] }
    const claims = {
      iss: 'outpost-test-issuer',
      sub: credentials?.username ?? 'anonymous',
      aud: url.searchParams.get('service'),
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    }
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`
    const signature = createSign('RSA-SHA256').update(input).sign(key)
    service.issued++
    res.writeHead(200, { 'Content-Type': 'application/json' })
    res.end(JSON.stringify({ token: `${input}.${b64url(signature)}`, expires_in: 300 }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  service.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  service.close = () => new Promise((resolve) => server.close(() => resolve()))
  return service
}

export interface CountingProxy {
  url: string
  host: string
  /** GET requests whose path matched `pattern` so far */
  count(pattern: RegExp): number
  /** requests of any method whose "METHOD path" matched `pattern` so far */
  requests(pattern: RegExp): number
  close(): Promise<void>
}

/**
 * A proxy in front of `target` that records every request's method and path; with
 * `bytesPerSecond`, response bodies are paced to that rate (a slow uplink); GET bodies of paths
 * matching `corrupt` have their first byte flipped (an upstream serving bad content).
 */
export async function countingProxy(
  target: string,
  options: { bytesPerSecond?: number; corrupt?: RegExp } = {},
): Promise<CountingProxy> {
  const { bytesPerSecond, corrupt } = options
  const seen: string[] = []
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`)
    const upstream = http.request(
      `${target}${req.url}`,
      { method: req.method, headers: { ...req.headers, host: new URL(target).host } },
      async (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers)
        let flip = req.method === 'GET' && corrupt?.test(req.url!)
        if (!bytesPerSecond && !flip) return void up.pipe(res)
        const began = Date.now()
        let sent = 0
        for await (let chunk of up as AsyncIterable<Buffer>) {
          if (flip && chunk.length > 0) {
            chunk = Buffer.from(chunk)
            chunk[0] ^= 0xff
            flip = false
          }
          for (let at = 0; at < chunk.length; at += 64 * 1024) {
            const piece = chunk.subarray(at, at + 64 * 1024)
            if (!res.write(piece)) await new Promise((r) => res.once('drain', r))
            sent += piece.length
            const ahead = bytesPerSecond ? (sent / bytesPerSecond) * 1000 - (Date.now() - began) : 0
            if (ahead > 0) await new Promise((r) => setTimeout(r, ahead))
            if (res.destroyed) return void up.destroy()
          }
        }
        res.end()
      },
    )
    upstream.once('error', () => res.destroy())
    req.pipe(upstream)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    count: (pattern) => seen.filter((s) => s.startsWith('GET ') && pattern.test(s)).length,
    requests: (pattern) => seen.filter((s) => pattern.test(s)).length,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** Push blobs (monolithic) and a manifest to a plain upstream over HTTP. */
export async function pushToUpstream(
  url: string,
  repo: string,
  blobs: Buffer[],
  manifest: Buffer,
  mediaType: string,
  tag: string,
): Promise<void> {
  for (const blob of blobs) {
    const start = await fetch(`${url}/v2/${repo}/blobs/uploads/`, { method: 'POST' })
    if (start.status !== 202) throw new Error(`upload start: ${start.status}`)
    const location = new URL(start.headers.get('location')!, url)
    location.searchParams.set('digest', sha256(blob))
    const put = await fetch(location, {
      method: 'PUT',
      body: blob,
      headers: { 'Content-Type': 'application/octet-stream' },
    })
    if (put.status !== 201) throw new Error(`blob push: ${put.status} ${await put.text()}`)
  }
  const res = await fetch(`${url}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'Content-Type': mediaType },
    body: manifest,
  })
  if (res.status !== 201) throw new Error(`manifest push: ${res.status} ${await res.text()}`)
}
