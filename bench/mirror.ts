// The periodic mirror's figures of `npm run bench` (issue 15): one single-layer image of
// BENCH_SIZE_MIB (default 512) on an upstream Outpost, mirrored into a fresh store by a compiled
// `outpost serve` whose config has a periodic registry (its first pass starts about a second
// after start-up), once through a clean link and once through a proxy that cuts every upstream
// connection after BENCH_MIRROR_CUT_KIB (default 1024): the download resumes with Range each
// time. Per run, read once GET /v2/_outpost/mirror shows the pass: MB/s over the pass's own
// duration, the Range requests it took, bytes written to disk per byte mirrored (write_bytes less
// cancelled_write_bytes from /proc/<pid>/io, as footprint.ts reads them, over the server's life:
// start-up writes a few KiB; goal 1.00, zot writes each blob twice) and the server's peak RSS
// (VmHWM) with the pass included.
import { mkdir, mkdtemp, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { cuttingProxy, type CuttingProxy } from '../test/helpers/cutting-proxy.js'
import { expectStatus, RegistryClient } from './client.js'
import { blobDigest, MIB, sha256 } from './payload.js'
import { ioBytes, peakRssMark } from './process-stats.js'
import { pushBlob } from './pull-through.js'
import { serveConfig } from './serve-config.js'
import { freePort, startOutpost, type Target } from './targets.js'

export interface MirrorRun {
  link: string
  seconds: number
  /** bytes mirrored (manifest, config and layer) per second, in MB (10^6) */
  mbPerSecond: number
  rangeRequests: number
  /** write_bytes - cancelled_write_bytes of the command, per byte mirrored */
  diskBytesPerByte: number
  peakRssBytes: number
}

export interface MirrorResult {
  sizeMiB: number
  bytesMirrored: number
  runs: MirrorRun[]
}

const REPO = 'bench/mirrored'
const TAG = 'v1'

/** The image on the upstream: a small config, one layer of `mib` MiB, an OCI manifest. */
async function seedUpstream(upstream: Target, mib: number) {
  const seed = 15015
  const layerDigest = blobDigest(seed, mib)
  await pushBlob(upstream.url, REPO, mib, seed, layerDigest)
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux' }))
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(config),
        size: config.length,
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar',
          digest: layerDigest,
          size: mib * MIB,
        },
      ],
    }),
  )
  const client = new RegistryClient(upstream.url, 1)
  try {
    const configPut = await client.call(
      'POST',
      `/v2/${REPO}/blobs/uploads/?digest=${sha256(config)}`,
      {
        body: config,
      },
    )
    expectStatus(configPut, 201, 'POST config')
    const manifestPut = await client.call('PUT', `/v2/${REPO}/manifests/${TAG}`, {
      headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
      body: manifest,
    })
    expectStatus(manifestPut, 201, 'PUT manifest')
  } finally {
    client.close()
  }
  return { layerDigest, bytes: mib * MIB + config.length + manifest.length }
}

interface PassFigures {
  seconds: number
  diskBytes: number
  peakRssBytes: number
}

interface MirrorStatus {
  registries: Array<{
    lastPass?: { durationSeconds: number; images: { copied: number }; failures: unknown[] }
  }>
}

/** A server mirroring `url` into a fresh store: its first pass's figures, then it is stopped. */
async function mirrorOnce(
  repoRoot: string,
  url: string,
  layerDigest: string,
  layerBytes: number,
): Promise<PassFigures> {
  const dir = await mkdtemp(join(tmpdir(), 'outpost-bench-mirror-'))
  const root = join(dir, 'root')
  await mkdir(root)
  const config = {
    storage: { rootDirectory: root, commit: false },
    http: { address: '127.0.0.1', port: await freePort() },
    log: { level: 'error' },
    // The figure is the mirror's own speed: the budget must not pause it because the machine
    // (the upstream, the proxy, this process) is busy, as it would pause GC.
    maintenance: { cpuPercent: 100, minFreeMemory: '0' },
    extensions: {
      sync: {
        enable: true,
        registries: [
          {
            urls: [url],
            onDemand: false,
            pollInterval: '24h',
            tlsVerify: false,
            maxRetries: 5,
            retryDelay: '100ms',
            content: [{ prefix: 'bench/**' }],
          },
        ],
      },
    },
  }
  const server = await serveConfig(repoRoot, dir, config)
  try {
    let pass: NonNullable<MirrorStatus['registries'][number]['lastPass']> | undefined
    for (let polls = 0; !pass; polls++) {
      if (polls > 20 * 3600) throw new Error('no mirror pass finished within an hour')
      await sleep(polls === 0 ? 0 : 50)
      const res = await fetch(new URL('/v2/_outpost/mirror', server.url))
      pass = ((await res.json()) as MirrorStatus).registries[0]?.lastPass
    }
    const io = ioBytes(server.pid)
    const peakRssBytes = peakRssMark(server.pid)
    if (pass.failures.length > 0 || pass.images.copied !== 1)
      throw new Error(`the mirror pass did not copy the image: ${JSON.stringify(pass)}`)
    // The layer is in the store, whole (the store checked its digest before showing it).
    const layer = join(root, REPO, 'blobs', ...layerDigest.split(':'))
    const size = (await stat(layer).catch(() => undefined))?.size
    if (size !== layerBytes) throw new Error(`the mirrored layer is missing or ${size} bytes`)
    return { seconds: pass.durationSeconds, diskBytes: io.storage, peakRssBytes }
  } finally {
    await server.stop()
  }
}

export async function mirrorBench(repoRoot: string, sizeMiB: number): Promise<MirrorResult> {
  const cutKiB = Number(process.env.BENCH_MIRROR_CUT_KIB ?? 1024)
  console.log(
    `\nperiodic mirror: one ${sizeMiB} MiB single-layer image, the first pass of a server`,
  )
  const upstream = await startOutpost(repoRoot, {}, { name: 'upstream Outpost' })
  let proxy: CuttingProxy | undefined
  try {
    const { layerDigest, bytes } = await seedUpstream(upstream, sizeMiB)
    proxy = await cuttingProxy(upstream.url.origin, cutKiB * 1024)
    const links = [
      { link: 'clean link', url: upstream.url.origin, ranges: () => 0 },
      {
        link: `cut every ${cutKiB} KiB`,
        url: proxy.url,
        ranges: () => proxy!.ranges(/\/blobs\//).length,
      },
    ]
    const runs: MirrorRun[] = []
    for (const { link, url, ranges } of links) {
      const before = ranges()
      const got = await mirrorOnce(repoRoot, url, layerDigest, sizeMiB * MIB)
      const run: MirrorRun = {
        link,
        seconds: got.seconds,
        mbPerSecond: bytes / 1e6 / got.seconds,
        rangeRequests: ranges() - before,
        diskBytesPerByte: got.diskBytes / bytes,
        peakRssBytes: got.peakRssBytes,
      }
      runs.push(run)
      console.log(
        `  ${link.padEnd(22)} ${run.mbPerSecond.toFixed(1).padStart(7)} MB/s   ` +
          `${String(run.rangeRequests).padStart(4)} Range requests   ` +
          `disk bytes per byte mirrored ${run.diskBytesPerByte.toFixed(3)} (goal 1.00)   ` +
          `peak RSS ${(run.peakRssBytes / MIB).toFixed(0)} MiB`,
      )
    }
    return { sizeMiB, bytesMirrored: bytes, runs }
  } finally {
    await proxy?.close()
    await upstream.stop()
  }
}

// Alone: `npm run build && BENCH_SIZE_MIB=32 node --import tsx bench/mirror.ts`
if (import.meta.url === `file://${process.argv[1]}`) {
  const { fileURLToPath } = await import('node:url')
  await mirrorBench(
    fileURLToPath(new URL('..', import.meta.url)),
    Number(process.env.BENCH_SIZE_MIB ?? 512),
  )
}
