// The pull-through figures of `npm run bench` (issue 6): one big layer (BENCH_PULL_THROUGH_MIB,
// default 256) pushed to Debian's docker-registry, then pulled three ways: straight from that
// upstream, through Outpost the first time (nothing cached: streamed from the upstream while it
// is stored), and through Outpost again (served from its store). Time to first byte and total
// time for each; the first pull through the cache should reach its first byte about as soon as
// the direct pull does, not after the whole layer (zot copies the image first).
// Outpost runs compiled (dist/, as `npm run bench` builds it) in a child process.
import { createHash } from 'node:crypto'
import { mkdtemp } from 'node:fs/promises'
import * as http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { expectStatus, RegistryClient } from './client.js'
import { blobDigest, blockPieces, MIB } from './payload.js'
import { serveConfig } from './serve-config.js'
import { freePort, startDistribution } from './targets.js'

export interface PullTiming {
  ttfbMs: number
  totalMs: number
}

export interface PullThroughResult {
  sizeMiB: number
  direct: PullTiming
  firstThroughCache: PullTiming
  cached: PullTiming
}

/** GET `url` streaming, discarding the bytes but checking their digest. */
function timedPull(url: string, digest: string): Promise<PullTiming> {
  return new Promise((resolve, reject) => {
    const began = performance.now()
    http
      .get(url, (res) => {
        if (res.statusCode !== 200) return reject(new Error(`GET ${url}: ${res.statusCode}`))
        const hash = createHash('sha256')
        let ttfbMs = 0
        res.on('data', (chunk: Buffer) => {
          ttfbMs ||= performance.now() - began
          hash.update(chunk)
        })
        res.on('end', () => {
          const totalMs = performance.now() - began
          if (`sha256:${hash.digest('hex')}` !== digest) reject(new Error(`${url}: wrong bytes`))
          else resolve({ ttfbMs, totalMs })
        })
        res.on('error', reject)
      })
      .on('error', reject)
  })
}

export async function pushBlob(base: URL, repo: string, mib: number, seed: number, digest: string) {
  const client = new RegistryClient(base, 1)
  const start = expectStatus(await client.call('POST', `/v2/${repo}/blobs/uploads/`), 202, 'POST')
  const location = new URL(client.resolve(start.headers.location as string), base)
  location.searchParams.set('digest', digest)
  const put = await client.stream(
    'PUT',
    location.pathname + location.search,
    { 'Content-Length': mib * MIB, 'Content-Type': 'application/octet-stream' },
    blockPieces(seed, 0, mib),
  )
  expectStatus(put, 201, 'PUT blob')
}

/** Outpost from dist/, pulling through `upstream`; stopped and its root removed by `stop`. */
async function startCachingOutpost(repoRoot: string, upstream: URL) {
  const dir = await mkdtemp(join(tmpdir(), 'outpost-bench-pull-'))
  const port = await freePort()
  const config = {
    storage: { rootDirectory: dir, commit: false },
    http: { address: '127.0.0.1', port },
    log: { level: 'error' },
    extensions: {
      sync: { enable: true, registries: [{ urls: [upstream.origin], onDemand: true }] },
    },
  }
  return serveConfig(repoRoot, dir, config)
}

export async function pullThroughBench(repoRoot: string): Promise<PullThroughResult> {
  const sizeMiB = Number(process.env.BENCH_PULL_THROUGH_MIB ?? 256)
  const seed = 6006
  console.log(`\npull-through cache: one ${sizeMiB} MiB layer from docker-registry`)
  const digest = blobDigest(seed, sizeMiB)
  const upstream = await startDistribution()
  try {
    await pushBlob(upstream.url, 'bench/layer', sizeMiB, seed, digest)
    const outpost = await startCachingOutpost(repoRoot, upstream.url)
    try {
      const path = `/v2/bench/layer/blobs/${digest}`
      const direct = await timedPull(new URL(path, upstream.url).toString(), digest)
      const firstThroughCache = await timedPull(new URL(path, outpost.url).toString(), digest)
      // The stored copy is published just after the last byte went out (a pull meanwhile would
      // wait for it): give it a moment.
      await sleep(1000)
      const cached = await timedPull(new URL(path, outpost.url).toString(), digest)
      const result = { sizeMiB, direct, firstThroughCache, cached }
      const row = (name: string, t: PullTiming) =>
        console.log(
          `  ${name.padEnd(36)} first byte ${t.ttfbMs.toFixed(1).padStart(8)} ms   total ${t.totalMs.toFixed(0).padStart(6)} ms   ${((sizeMiB / t.totalMs) * 1000).toFixed(0).padStart(5)} MiB/s`,
        )
      row('upstream directly', direct)
      row('through Outpost, first pull', firstThroughCache)
      row('through Outpost, cached', cached)
      return result
    } finally {
      await outpost.stop()
    }
  } finally {
    await upstream.stop()
  }
}

// Alone: `npm run build && node --import tsx bench/pull-through.ts`
if (import.meta.url === `file://${process.argv[1]}`) {
  const { fileURLToPath } = await import('node:url')
  await pullThroughBench(fileURLToPath(new URL('..', import.meta.url)))
}
