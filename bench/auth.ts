// The authentication figure of `npm run bench` (issue 7): manifest GET req/s at concurrency 8
// against Outpost with basic auth (an htpasswd file, bcrypt cost 10, as `htpasswd -B -C 10`
// writes) versus without. Every authenticated request carries its credentials, as clients do;
// the credential cache should keep the difference within 20% (zot pays a bcrypt compare per
// request). Both servers run compiled (dist/) in child processes; the runs alternate, best of
// two each, so a noisy neighbour on a shared machine does not decide the comparison.
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hashSync } from 'bcryptjs'
import { expectStatus, RegistryClient } from './client.js'
import { OCI_MANIFEST, smallImage } from './payload.js'
import { serveConfig } from './serve-config.js'
import { freePort } from './targets.js'
import { pushImage } from './workloads.js'

export interface AuthBenchResult {
  seconds: number
  concurrency: number
  /** manifest GET req/s without authentication */
  off: number
  /** manifest GET req/s with basic auth on every request */
  basic: number
  /** basic / off */
  ratio: number
}

const CONCURRENCY = 8
const USER = 'bench'
const PASSWORD = 'bench-password'
const REPO = 'bench/auth'
const IMAGES = 16

async function startAuthOutpost(repoRoot: string, auth: boolean) {
  const dir = await mkdtemp(join(tmpdir(), 'outpost-bench-auth-'))
  const port = await freePort()
  const htpasswd = join(dir, 'htpasswd')
  await writeFile(htpasswd, `${USER}:${hashSync(PASSWORD, 10).replace(/^\$2b\$/, '$2y$')}\n`)
  const config = {
    storage: { rootDirectory: dir, commit: false },
    http: { address: '127.0.0.1', port, ...(auth && { auth: { htpasswd: { path: htpasswd } } }) },
    log: { level: 'error' },
  }
  return serveConfig(repoRoot, dir, config)
}

/** A client whose every request carries `headers` (the Basic credentials, or none). */
function withHeaders(client: RegistryClient, headers: Record<string, string>): RegistryClient {
  const call = client.call.bind(client)
  client.call = (method, path, options = {}) =>
    call(method, path, { ...options, headers: { ...headers, ...options.headers } })
  return client
}

/** Manifest GETs by tag over the pushed images for `seconds`, CONCURRENCY at a time. */
async function getManifests(client: RegistryClient, seconds: number): Promise<number> {
  let done = 0
  const deadline = performance.now() + seconds * 1000
  const began = performance.now()
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, lane) => {
      for (let n = lane % IMAGES; performance.now() < deadline; n = (n + 1) % IMAGES) {
        const reply = await client.call('GET', `/v2/${REPO}/manifests/v${n}`, {
          headers: { Accept: OCI_MANIFEST },
        })
        expectStatus(reply, 200, 'GET manifest')
        done++
      }
    }),
  )
  return done / ((performance.now() - began) / 1000)
}

export async function authBench(repoRoot: string, seconds = 5): Promise<AuthBenchResult> {
  console.log(`\nauthentication: manifest GET at concurrency ${CONCURRENCY}, basic auth on vs off`)
  const credentials = {
    Authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`,
  }
  const servers = [
    { name: 'off', ...(await startAuthOutpost(repoRoot, false)), headers: {} },
    { name: 'basic', ...(await startAuthOutpost(repoRoot, true)), headers: credentials },
  ]
  try {
    const clients = servers.map((s) =>
      withHeaders(new RegistryClient(s.url, CONCURRENCY), s.headers),
    )
    for (const client of clients) {
      for (let n = 0; n < IMAGES; n++) await pushImage(client, REPO, smallImage(n), `v${n}`)
      await getManifests(client, 0.5) // warm-up
    }
    const best = [0, 0]
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < clients.length; i++) {
        best[i] = Math.max(best[i], await getManifests(clients[i], seconds / 2))
      }
    }
    for (const client of clients) client.close()
    const [off, basic] = best
    const result = { seconds, concurrency: CONCURRENCY, off, basic, ratio: basic / off }
    console.log(`  auth off     ${off.toFixed(0).padStart(7)} req/s`)
    console.log(
      `  basic auth   ${basic.toFixed(0).padStart(7)} req/s   (${(100 * result.ratio).toFixed(0)}% of off)`,
    )
    return result
  } finally {
    for (const s of servers) await s.stop()
  }
}
