// Background-work figures for `npm run bench` (issues 3 and 4): one GC pass over 1,000 images /
// 10,000 blobs, the startup dedupe pass rate, scrub throughput unthrottled and at ioRate 20MB/s,
// and pull throughput while a scrub runs at the default budget relative to none. Storage is
// driven in-process through the registry API; pulls come from a separate client process so the
// server's event loop is measured as it would be in production.
import { execSync, spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { Budget, SystemSampler, unlimitedBudget } from '../src/budget/index.js'
import { resolveMaintenance, resolveScrub, resolveStorageSettings } from '../src/config/index.js'
import { FsDriver } from '../src/storage/fs/index.js'
import { GarbageCollector } from '../src/gc/index.js'
import { runDedupePass } from '../src/dedupe/index.js'
import { silentLogger } from '../src/log/logger.js'
import { Digest, type Registry } from '../src/registry/index.js'
import { ownStorage, type OwnedStorage } from '../src/server/storage-owner.js'
import { Scrubber } from '../src/scrub/index.js'
import { startServer } from '../src/server/server.js'

const MiB = 1024 * 1024
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const NOISE = randomBytes(MiB)

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`
}

async function open(root: string, dedupe: boolean): Promise<OwnedStorage> {
  const driver = new FsDriver({ root, commit: false })
  return ownStorage({
    driver,
    localRoot: root,
    commit: false,
    log: () => {},
    holder: 'bench',
    dedupe,
  })
}

/** A small image: config + `layers` small layers + manifest (layers + 2 blobs). */
async function pushSmallImage(
  registry: Registry,
  repo: string,
  seed: string,
  layers: number,
  tag: string,
) {
  const config = Buffer.from(JSON.stringify({ architecture: 'arm64', os: 'linux', seed }))
  const blobs = [
    config,
    ...Array.from({ length: layers }, (_, i) =>
      Buffer.from(`${seed}/${i}/${NOISE.subarray(i * 64, i * 64 + 512).toString('hex')}`),
    ),
  ]
  for (const blob of blobs)
    await registry.uploads.putWhole(repo, Digest.parse(sha256(blob)), Readable.from([blob]))
  const manifest = manifestOf(
    config,
    blobs.slice(1).map((b) => layerDesc(sha256(b), b.length)),
  )
  await registry.manifests.put(repo, tag, manifest, OCI_MANIFEST)
  return sha256(manifest)
}

function layerDesc(digest: string, size: number) {
  return { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size }
}

/** An OCI image manifest over a config and layer descriptors. */
function manifestOf(config: Buffer, layers: ReturnType<typeof layerDesc>[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(config),
        size: config.length,
      },
      layers,
    }),
  )
}

async function inBatches<T>(items: T[], concurrency: number, task: (item: T) => Promise<unknown>) {
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await task(items[next++])
    }),
  )
}

/** A big layer of `mib` MiB, streamed twice (digest first, then upload) without holding it. */
function bigLayer(seed: number, mib: number): { stream: () => Readable; digest: string } {
  const chunk = (i: number) => {
    const out = Buffer.from(NOISE)
    out.writeUInt32BE(seed, 0)
    out.writeUInt32BE(i, 4)
    return out
  }
  const hash = createHash('sha256')
  for (let i = 0; i < mib; i++) hash.update(chunk(i))
  return {
    digest: `sha256:${hash.digest('hex')}`,
    stream: () =>
      Readable.from(
        (function* () {
          for (let i = 0; i < mib; i++) yield chunk(i)
        })(),
      ),
  }
}

async function pushBigImage(registry: Registry, repo: string, layers: number, mib: number) {
  const config = Buffer.from(JSON.stringify({ architecture: 'arm64', os: 'linux', repo }))
  await registry.uploads.putWhole(repo, Digest.parse(sha256(config)), Readable.from([config]))
  const descs = []
  for (let i = 0; i < layers; i++) {
    const layer = bigLayer(i + 1, mib)
    await registry.uploads.putWhole(repo, Digest.parse(layer.digest), layer.stream())
    descs.push(layerDesc(layer.digest, mib * MiB))
  }
  await registry.manifests.put(repo, 'v1', manifestOf(config, descs), OCI_MANIFEST)
  return descs
}

async function gcBench(base: string): Promise<void> {
  const root = join(base, 'gc')
  const storage = await open(await mkdirp(root), true)
  const images = Array.from({ length: 1000 }, (_, n) => ({
    repo: `fleet/r${String(n % 100).padStart(3, '0')}`,
    seed: `img-${n}`,
    n,
  }))
  const began = performance.now()
  const digests = new Map<number, string>()
  await inBatches(images, 8, async (img) =>
    digests.set(img.n, await pushSmallImage(storage.registry, img.repo, img.seed, 8, `t${img.n}`)),
  )
  console.log(
    `  GC setup: 1000 images / 10,000 blobs in 100 repositories pushed in ${((performance.now() - began) / 1000).toFixed(1)} s`,
  )
  for (const img of images.filter((i) => i.n % 2 === 0))
    await storage.registry.manifests.delete(img.repo, digests.get(img.n)!)
  const settings = resolveStorageSettings({ rootDirectory: root, gcDelay: '0s' })
  const collector = new GarbageCollector({
    registry: storage.registry,
    delayMs: 0,
    retention: settings.retention,
    log: () => {},
  })
  const pass = await collector.runPass()
  console.log(
    `  GC pass over 1,000 images / 10,000 blobs (500 images deleted first): ${pass.ms} ms, ` +
      `${pass.repositories} repositories, removed ${pass.manifests} manifests and ${pass.blobs} blobs ` +
      `(${Math.round((10_000 / pass.ms) * 1000)} blobs examined/s)`,
  )
  await storage.close()
}

async function dedupeBench(base: string): Promise<void> {
  const root = await mkdirp(join(base, 'dedupe'))
  const plain = await open(root, false)
  const work = Array.from({ length: 1000 }, (_, n) => ({
    repo: `copy/r${String(n % 20).padStart(2, '0')}`,
    seed: `shared-${Math.floor(n / 20)}`,
    n,
  }))
  await inBatches(work, 8, (w) => pushSmallImage(plain.registry, w.repo, w.seed, 8, `t${w.n}`))
  await plain.close()
  const storage = await open(root, true)
  const result = await runDedupePass({
    registry: storage.registry,
    db: storage.db,
    log: () => {},
    blobsPerSecond: Infinity,
  })
  console.log(
    `  startup dedupe pass (unpaced): ${result.blobs} blobs in ${result.ms} ms = ` +
      `${Math.round((result.blobs / result.ms) * 1000)} blobs/s, ${result.linked} linked, ${(result.bytesSaved / 1024).toFixed(0)} KiB saved`,
  )
  await storage.close()
}

async function scrubBench(base: string, totalMiB: number): Promise<string> {
  const root = await mkdirp(join(base, 'scrub'))
  const storage = await open(root, true)
  const layers = Math.max(1, Math.round(totalMiB / 64))
  await pushBigImage(storage.registry, 'big/image', layers, 64)
  const fast = await new Scrubber({
    registry: storage.registry,
    db: storage.db,
    budget: unlimitedBudget(),
    log: () => {},
  }).runPass()
  const ms = Date.parse(fast.endedAt!) - Date.parse(fast.startedAt)
  console.log(
    `  scrub unthrottled: ${(fast.bytesHashed / MiB).toFixed(0)} MiB in ${ms} ms = ${((fast.bytesHashed / 1e6 / ms) * 1000).toFixed(1)} MB/s`,
  )
  // Throttled: a 256 MiB share at ioRate 20MB/s (about 13 s), through the real sampler. Dirty
  // pages of the pushes above are flushed first: their writeback is device I/O the budget would
  // rightly yield to.
  execSync('sync')
  const budget = new Budget({
    settings: { ...resolveMaintenance({ ioRate: '20MB/s' }), cpuPercent: 100 },
    sampler: await SystemSampler.forRoot(root),
  })
  let hashed = 0
  const stopAt = 256 * MiB
  const began = performance.now()
  await new Scrubber({
    registry: storage.registry,
    db: storage.db,
    budget: {
      acquire: async (bytes: number, stop?: () => boolean) => {
        hashed += bytes
        await budget.acquire(bytes, stop)
      },
    } as unknown as Budget,
    log: () => {},
  }).runPass(() => hashed >= stopAt)
  const seconds = (performance.now() - began) / 1000
  console.log(
    `  scrub at ioRate 20MB/s: ${(hashed / MiB).toFixed(0)} MiB in ${seconds.toFixed(1)} s = ${(hashed / 1e6 / seconds).toFixed(1)} MB/s`,
  )
  await storage.close()
  return root
}

/** Pull one blob over and over from a separate process for `seconds`; MB/s. */
function pullFor(url: string, path: string, seconds: number): Promise<number> {
  const client = fileURLToPath(new URL('./pull-client.ts', import.meta.url))
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', client, url, path, String(seconds)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.once('exit', (code) =>
      code === 0 ? resolve(Number(out.trim())) : reject(new Error(`pull client exited ${code}`)),
    )
  })
}

async function pullDuringScrubBench(root: string, seconds: number): Promise<void> {
  const config = {
    storage: {
      rootDirectory: root,
      commit: false,
      createRoot: false,
      uploadExpiryMs: 86_400_000,
      ...resolveStorageSettings({ rootDirectory: root, gc: false }),
    },
    http: { address: '127.0.0.1', port: 0, shutdownTimeoutMs: 2000 },
    log: { level: 'error' as const },
    maintenance: resolveMaintenance(undefined),
    scrub: { ...resolveScrub({ enable: true, interval: '24h' }) },
  }
  const server = await startServer(config, silentLogger)
  try {
    const layer = bigLayer(1, 64).digest
    const path = `/v2/big/image/blobs/${layer}`
    await pullFor(server.url, path, 1) // warm-up: page cache and connection
    // Quiet, with a scrub, quiet again: the machine's speed drifts, so the scrub run is
    // compared with the mean of the runs around it.
    const before = await pullFor(server.url, path, seconds)
    let stop = false
    const scrub = server.upkeep.scrubber!.runPass(() => stop)
    const busy = await pullFor(server.url, path, seconds)
    stop = true
    const report = await scrub
    const after = await pullFor(server.url, path, seconds)
    const quiet = (before + after) / 2
    const ratio = busy / quiet
    console.log(
      `  pull while a scrub runs at the default budget: ${busy.toFixed(0)} MB/s vs ${quiet.toFixed(0)} MB/s ` +
        `quiet (${before.toFixed(0)} before, ${after.toFixed(0)} after) = ${(ratio * 100).toFixed(0)}%; ` +
        `the scrub hashed ${(report.bytesHashed / MiB).toFixed(0)} MiB meanwhile — target >= 80%: ` +
        `${ratio >= 0.8 ? 'PASS' : 'MISS'}`,
    )
  } finally {
    await server.close()
  }
}

async function mkdirp(dir: string): Promise<string> {
  const { mkdir } = await import('node:fs/promises')
  await mkdir(dir, { recursive: true })
  return dir
}

export async function maintenanceBench(options: {
  scrubMiB: number
  seconds: number
}): Promise<void> {
  const base = await mkdtemp(join(tmpdir(), 'outpost-bench-maint-'))
  try {
    console.log('\nBackground work (Outpost only)')
    await gcBench(base)
    await dedupeBench(base)
    const root = await scrubBench(base, options.scrubMiB)
    await pullDuringScrubBench(root, options.seconds)
  } finally {
    await rm(base, { recursive: true, force: true })
  }
}
