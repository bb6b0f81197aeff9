// The periodic mirror's figures of `npm run bench` (issue 15): one single-layer image of
// BENCH_SIZE_MIB (default 512) on an upstream Outpost, mirrored into a fresh store three times:
// by a compiled `outpost serve` whose config has a periodic registry (its first pass starts about
// a second after start-up) through a clean link and through a proxy that cuts every upstream
// connection after BENCH_MIRROR_CUT_KIB (default 1024; the download resumes with Range each
// time), and by `outpost mirror <config> --once` through the clean link. Per run: MB/s (over the
// pass as GET /v2/_outpost/mirror times it; for the command, its whole run), the Range requests,
// bytes written to disk per byte mirrored (write_bytes less cancelled_write_bytes from
// /proc/<pid>/io, as footprint.ts reads them, over the process's life: start-up writes a few
// KiB; goal 1.00, zot writes each blob twice) and the process's peak RSS (VmHWM).
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
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
export async function seedUpstream(upstream: Target, mib: number) {
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

/** A store at `root` with one periodic registry: `url`, repositories under bench/. */
function mirrorConfig(root: string, url: string, port: number) {
  return {
    storage: { rootDirectory: root, commit: false },
    http: { address: '127.0.0.1', port },
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
}

/** The layer must be in the store, whole (the store checked its digest before showing it). */
async function checkMirrored(root: string, layerDigest: string, layerBytes: number) {
  const layer = join(root, REPO, 'blobs', ...layerDigest.split(':'))
  const size = (await stat(layer).catch(() => undefined))?.size
  if (size !== layerBytes) throw new Error(`the mirrored layer is missing or ${size} bytes`)
}

/** A server mirroring `url` into a fresh store: its first pass's figures, then it is stopped. */
async function serverPass(
  repoRoot: string,
  url: string,
  layerDigest: string,
  layerBytes: number,
): Promise<PassFigures> {
  const dir = await mkdtemp(join(tmpdir(), 'outpost-bench-mirror-'))
  const root = join(dir, 'root')
  await mkdir(root)
  const server = await serveConfig(repoRoot, dir, mirrorConfig(root, url, await freePort()))
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
    await checkMirrored(root, layerDigest, layerBytes)
    return { seconds: pass.durationSeconds, diskBytes: io.storage, peakRssBytes }
  } finally {
    await server.stop()
  }
}

/**
 * Preloaded into `outpost mirror`: its I/O counters and peak RSS, written to a file as it exits
 * (/proc/<pid> of an exited child is gone before its parent hears of the exit).
 */
const EXIT_STATS = [
  "import { readFileSync, writeFileSync } from 'node:fs'",
  "process.once('exit', () => writeFileSync(process.env.OUTPOST_BENCH_EXIT_STATS,",
  "  readFileSync('/proc/self/io', 'latin1') + readFileSync('/proc/self/status', 'latin1')))",
].join('\n')

/** `outpost mirror <config> --once` from `url` into a fresh store (process start included). */
async function commandPass(
  repoRoot: string,
  url: string,
  layerDigest: string,
  layerBytes: number,
): Promise<PassFigures> {
  const dir = await mkdtemp(join(tmpdir(), 'outpost-bench-mirror-'))
  try {
    const root = join(dir, 'root')
    await mkdir(root)
    const configPath = join(dir, 'config.json')
    await writeFile(configPath, JSON.stringify(mirrorConfig(root, url, 0)))
    const stats = join(dir, 'exit-stats')
    const preload = `data:text/javascript,${encodeURIComponent(EXIT_STATS)}`
    const main = join(repoRoot, 'dist/cli/main.js')
    const began = performance.now()
    const child = spawn(
      process.execPath,
      ['--import', preload, main, 'mirror', configPath, '--once'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, OUTPOST_BENCH_EXIT_STATS: stats },
      },
    )
    let output = ''
    for (const s of [child.stdout!, child.stderr!])
      s.on('data', (d) => (output = (output + d).slice(-16_384)))
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    const seconds = (performance.now() - began) / 1000
    if (code !== 0) throw new Error(`outpost mirror --once exited ${code}:\n${output}`)
    await checkMirrored(root, layerDigest, layerBytes)
    const text = await readFile(stats, 'latin1')
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1])
    return {
      seconds,
      diskBytes: field('write_bytes') - field('cancelled_write_bytes'),
      peakRssBytes: field('VmHWM') * 1024,
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

export async function mirrorBench(repoRoot: string, sizeMiB: number): Promise<MirrorResult> {
  const cutKiB = Number(process.env.BENCH_MIRROR_CUT_KIB ?? 1024)
  console.log(
    `\nperiodic mirror: one ${sizeMiB} MiB single-layer image (a server's first pass, outpost mirror --once)`,
  )
  const upstream = await startOutpost(repoRoot, {}, { name: 'upstream Outpost' })
  let proxy: CuttingProxy | undefined
  try {
    const { layerDigest, bytes } = await seedUpstream(upstream, sizeMiB)
    proxy = await cuttingProxy(upstream.url.origin, cutKiB * 1024)
    const cut = { url: proxy.url, ranges: () => proxy!.ranges(/\/blobs\//).length }
    const clean = { url: upstream.url.origin, ranges: () => 0 }
    const links = [
      { link: 'server, clean link', ...clean, pass: serverPass },
      { link: `server, cut every ${cutKiB} KiB`, ...cut, pass: serverPass },
      { link: 'mirror --once, clean', ...clean, pass: commandPass },
    ]
    const runs: MirrorRun[] = []
    for (const { link, url, ranges, pass } of links) {
      const before = ranges()
      const got = await pass(repoRoot, url, layerDigest, sizeMiB * MIB)
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
        `  ${link.padEnd(30)} ${run.mbPerSecond.toFixed(1).padStart(7)} MB/s   ` +
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
