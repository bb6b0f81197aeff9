// `npm run bench -- --edge` (issue 17, "Fitness on a small board"): Outpost with the unit's
// environment and the 512 MB board drop-in (systemd/examples/small-board.conf: its
// NODE_OPTIONS heap cap and its MemoryMax=), on one CPU (cpu 0), storage on a loop-mounted ext4
// (edge-sandbox.ts). The load generator runs on the other CPU (taskset), as a client on the
// network would. Phases, each on a fresh server start over the same store:
// 1. start to ready with 100,000 blobs in 10,000 repositories (layout-generator.ts), twice;
// 2. push a BENCH_SIZE_MIB (default 256) layer in 1 MiB writes and 200 small images, commit off,
//    then another layer with commit on: MB/s, images/s, and device bytes written per byte pushed;
// 3. pull MB/s (pull-client.ts, BENCH_EDGE_SECONDS, default 10) alone, then while a scrub pass
//    runs (interval 1m: its first pass starts a minute after start), while GC passes run back to
//    back (gcDelay 15s, gcInterval 100ms, after the alone figure), and while a mirror pass copies
//    a BENCH_SIZE_MIB image from an upstream Outpost outside the limits; all under the default
//    maintenance budget. Memory peak and OOM kills come from the cgroup, per phase.
import { execFileSync, spawn } from 'node:child_process'
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { expectStatus, RegistryClient } from './client.js'
import { boardLimits, loopDisk, type Limits, type LoopDisk } from './edge-sandbox.js'
import { generateLayout } from './layout-generator.js'
import { seedUpstream } from './mirror.js'
import { blobDigest, MIB, OCI_MANIFEST, sha256, smallImage } from './payload.js'
import { sizedPieces } from './real-clients.js'
import { peakRssMark } from './process-stats.js'
import { startOutpost, type Target } from './targets.js'
import { forEachInParallel, pushImage } from './workloads.js'

const REPO = 'edge/big'
const CLIENT_CPU = '1'
const SERVER_CPU = 0

interface DropIn {
  nodeOptions: string
  memoryMax: number
}

/** The drop-in's NODE_OPTIONS and MemoryMax= (systemd.resource-control: K, M, G suffixes). */
async function smallBoard(repoRoot: string): Promise<DropIn> {
  const text = await readFile(join(repoRoot, 'systemd/examples/small-board.conf'), 'utf8')
  const nodeOptions = /^Environment="NODE_OPTIONS=([^"]*)"$/m.exec(text)?.[1]
  const max = /^MemoryMax=(\d+)([KMG])?$/m.exec(text)
  if (!nodeOptions || !max) throw new Error('small-board.conf: no NODE_OPTIONS or MemoryMax=')
  const unit = { K: 1024, M: MIB, G: 1024 * MIB }[max[2] as 'K' | 'M' | 'G'] ?? 1
  return { nodeOptions, memoryMax: Number(max[1]) * unit }
}

interface Board {
  repoRoot: string
  dropIn: DropIn
  limits: Limits
  disk: LoopDisk
  sizeMiB: number
  seconds: number
  /** the server's own peak RSS (VmHWM) in the phase, read just before it stops */
  serverPeakBytes?: number
}

async function finish(board: Board, target: Target) {
  board.serverPeakBytes = Math.max(board.serverPeakBytes ?? 0, peakRssMark(target.pid))
  await target.stop()
}

function start(
  board: Board,
  root: string,
  storage: Record<string, unknown> = {},
  config: Record<string, unknown> = {},
) {
  return startOutpost(board.repoRoot, storage, {
    rootDirectory: root,
    wrapper: board.limits.wrapper,
    nodeOptions: board.dropIn.nodeOptions,
    config,
    name: 'Outpost (edge)',
  })
}

/** Pull `digest` over and over for the board's seconds from a client process on CLIENT_CPU. */
function pullFor(board: Board, target: Target, digest: string, repo = REPO): Promise<number> {
  const script = fileURLToPath(new URL('./pull-client.ts', import.meta.url))
  const args = ['-c', CLIENT_CPU, process.execPath, '--import', 'tsx', script]
  const child = spawn(
    'taskset',
    [...args, target.url.origin, `/v2/${repo}/blobs/${digest}`, String(board.seconds)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  return new Promise((resolve, reject) =>
    child.once('exit', (code) =>
      code === 0 ? resolve(Number(out)) : reject(new Error(`pull client: ${code}`)),
    ),
  )
}

/** A layer of `mib` MiB in 1 MiB writes, then a config and a manifest tagging it. */
async function pushLayer(client: RegistryClient, seed: number, mib: number, tag: string) {
  const digest = blobDigest(seed, mib)
  const began = performance.now()
  const post = expectStatus(await client.call('POST', `/v2/${REPO}/blobs/uploads/`), 202, 'POST')
  const location = client.resolve(post.headers.location)
  const path = `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`
  const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': mib * MIB }
  expectStatus(
    await client.stream('PUT', path, headers, sizedPieces(seed, 0, mib, MIB)),
    201,
    'PUT',
  )
  const seconds = (performance.now() - began) / 1000
  const config = Buffer.from(JSON.stringify({ architecture: 'arm64', os: 'linux', seed }))
  expectStatus(
    await client.call('POST', `/v2/${REPO}/blobs/uploads/?digest=${sha256(config)}`, {
      body: config,
    }),
    201,
    'config',
  )
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: sha256(config),
      size: config.length,
    },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: mib * MIB }],
  })
  const headersM = { 'Content-Type': OCI_MANIFEST }
  expectStatus(
    await client.call('PUT', `/v2/${REPO}/manifests/${tag}`, {
      headers: headersM,
      body: Buffer.from(manifest),
    }),
    201,
    'manifest',
  )
  return { digest, mbPerSecond: (mib * MIB) / 1e6 / seconds, bytes: mib * MIB }
}

/** Device bytes written per byte pushed by `push` (all dirty pages synced before and after). */
async function wear<T extends { bytes: number }>(disk: LoopDisk, push: () => Promise<T>) {
  const before = disk.writtenBytes()
  const result = await push()
  await sleep(500)
  return { ...result, wear: (disk.writtenBytes() - before) / result.bytes }
}

async function phase<T>(board: Board, name: string, run: () => Promise<T>) {
  board.limits.resetPeak()
  board.serverPeakBytes = undefined
  const result = await run()
  const rss = (board.serverPeakBytes ?? 0) / MIB
  const peak = board.limits.peakBytes()
  const oom = board.limits.oomKills()
  const cgroup = peak === undefined ? 'no cgroup' : `cgroup peak ${(peak / MIB).toFixed(1)} MiB`
  const memory = `server VmHWM ${rss.toFixed(1)} MiB, ${cgroup}`
  console.log(`  ${name}: ${JSON.stringify(result)} (${memory}, OOM kills ${oom ?? 'n/a'})`)
  const cgroupPeakMiB = peak === undefined ? undefined : peak / MIB
  return { name, ...result, serverPeakRssMiB: rss, cgroupPeakMiB, oomKills: oom }
}

async function waitFor(what: string, ms: number, check: () => Promise<boolean>) {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms / 1000} s`)
    await sleep(250)
  }
}

async function status(target: Target, path: string): Promise<Record<string, unknown>> {
  return (await (await fetch(new URL(path, target.url))).json()) as Record<string, unknown>
}

/** Whether the default store's GC pass is running now (GET /v2/_outpost/status). */
function gcRunning(target: Target): () => Promise<boolean> {
  return async () => {
    const storage = (await status(target, '/v2/_outpost/status')).storage as Array<{
      gc?: { running?: boolean }
    }>
    return storage[0]?.gc?.running === true
  }
}

export async function edgeBench(repoRoot: string, opts: { sizeMiB: number; seconds: number }) {
  const dropIn = await smallBoard(repoRoot)
  process.env.NODE_ENV = 'production' // as the unit's Environment= sets it
  execFileSync('taskset', ['-a', '-p', '-c', CLIENT_CPU, String(process.pid)], { stdio: 'ignore' })
  const limits = boardLimits(dropIn.memoryMax, SERVER_CPU)
  const disk = loopDisk(4096)
  const board: Board = { repoRoot, dropIn, limits, disk, ...opts }
  console.log(
    `edge: ${limits.kind}, memory ${dropIn.memoryMax / MIB} MiB, cpu ${SERVER_CPU}, ext4 on ${disk.device}`,
  )
  console.log(`  NODE_OPTIONS=${dropIn.nodeOptions}`)
  const phases: unknown[] = []
  try {
    const aged = join(disk.mount, 'aged')
    await mkdir(aged)
    const layout = generateLayout(aged, 10_000, 10)
    console.log(
      `  generated ${layout.blobs} blobs in ${layout.repos} repositories in ${layout.seconds.toFixed(1)} s`,
    )
    for (const which of ['first', 'second']) {
      phases.push(
        await phase(board, `start to ready (${which} start)`, async () => {
          const target = await start(board, aged)
          await finish(board, target)
          return { readyMs: Math.round(target.readyMs) }
        }),
      )
    }
    const root = join(disk.mount, 'store')
    await mkdir(root)
    let layer = ''
    phases.push(
      await phase(board, 'push, commit off', async () => {
        const target = await start(board, root)
        const client = new RegistryClient(target.url, 8)
        try {
          const pushed = await wear(disk, () => pushLayer(client, 1, board.sizeMiB, 'v1'))
          layer = pushed.digest
          const began = performance.now()
          await forEachInParallel(200, 8, (n) =>
            pushImage(client, 'edge/small', smallImage(n), `v${n}`),
          )
          const imagesPerSecond = 200 / ((performance.now() - began) / 1000)
          return { mbPerSecond: pushed.mbPerSecond, wear: pushed.wear, imagesPerSecond }
        } finally {
          client.close()
          await finish(board, target)
        }
      }),
    )
    phases.push(
      await phase(board, 'push, commit on', async () => {
        const target = await start(board, root, { commit: true })
        const client = new RegistryClient(target.url, 8)
        try {
          const { mbPerSecond, wear: w } = await wear(disk, () =>
            pushLayer(client, 2, board.sizeMiB, 'v2'),
          )
          return { mbPerSecond, wear: w }
        } finally {
          client.close()
          await finish(board, target)
        }
      }),
    )
    const scrub = { extensions: { scrub: { enable: true, interval: '1m' } } }
    phases.push(
      await phase(board, 'pull alone, then during scrub', async () => {
        const target = await start(board, root, {}, scrub)
        try {
          const alone = await pullFor(board, target, layer)
          await waitFor(
            'scrub pass',
            90_000,
            async () => (await status(target, '/v2/_outpost/scrub')).running === true,
          )
          const during = await pullFor(board, target, layer)
          const still = (await status(target, '/v2/_outpost/scrub')).running === true
          return { alone, during, fraction: during / alone, scrubRanThroughout: still }
        } finally {
          await finish(board, target)
        }
      }),
    )
    phases.push(
      await phase(board, 'pull alone, then during GC passes', async () => {
        const gc = { gc: true, gcDelay: `${board.seconds + 5}s`, gcInterval: '100ms' }
        const target = await start(board, root, gc, { log: { level: 'info' } })
        try {
          const alone = await pullFor(board, target, layer)
          // The first pass starts gcDelay after start; the status says when one is running.
          await waitFor('GC pass', 90_000, gcRunning(target))
          const during = await pullFor(board, target, layer)
          const still = await gcRunning(target)()
          const passes = (target.output().match(/gc pass/g) ?? []).length
          const gcRan = still || passes > 0
          return { alone, during, fraction: during / alone, gcPassesLogged: passes, gcRan }
        } finally {
          await finish(board, target)
        }
      }),
    )
    phases.push(
      await phase(board, 'pull during a mirror pass', () => mirrorPhase(board, root, layer)),
    )
  } finally {
    limits.close()
    disk.close()
  }
  return { kind: limits.kind, dropIn, sizeMiB: opts.sizeMiB, seconds: opts.seconds, phases }
}

/** Pull alone (a plain server), then while the first periodic mirror pass copies an image. */
async function mirrorPhase(board: Board, root: string, layer: string) {
  const plain = await start(board, root)
  let alone: number
  try {
    alone = await pullFor(board, plain, layer)
  } finally {
    await finish(board, plain)
  }
  const upstream = await startOutpost(board.repoRoot, {}, { shipped: true, name: 'upstream' })
  try {
    await seedUpstream(upstream, board.sizeMiB)
    const registry = {
      urls: [upstream.url.origin],
      onDemand: false,
      pollInterval: '24h',
      tlsVerify: false,
      content: [{ prefix: 'bench/**' }],
    }
    const sync = { enable: true, registries: [registry] }
    const target = await start(board, root, {}, { extensions: { sync } })
    try {
      const during = await pullFor(board, target, layer)
      const mirror = (await status(target, '/v2/_outpost/mirror')) as {
        registries?: Array<{ lastPass?: { durationSeconds: number } }>
      }
      const passSeconds = mirror.registries?.[0]?.lastPass?.durationSeconds ?? 'still running'
      return { alone, during, fraction: during / alone, passSeconds }
    } finally {
      await finish(board, target)
    }
  } finally {
    await upstream.stop()
  }
}

type Phase = Record<string, unknown> & { name: string }

/** The edge figures against issue 17's bars, as a Markdown table. */
export function printEdge(result: { kind: string; phases: unknown[] }): void {
  const phases = result.phases as Phase[]
  const find = (prefix: string) => phases.find((p) => p.name.startsWith(prefix))
  const num = (v: unknown, digits = 2) => (typeof v === 'number' ? v.toFixed(digits) : String(v))
  const rows: string[][] = []
  for (const p of phases.filter((p) => p.name.startsWith('start to ready'))) {
    rows.push([
      p.name,
      `${p.readyMs} ms`,
      '≤ 2000 ms',
      (p.readyMs as number) <= 2000 ? 'PASS' : 'MISS',
    ])
  }
  const off = find('push, commit off')
  const on = find('push, commit on')
  if (off) rows.push(['push MB/s (commit off)', num(off.mbPerSecond, 1), '', ''])
  if (off) rows.push(['small images/s', num(off.imagesPerSecond, 1), '', ''])
  if (on) rows.push(['push MB/s (commit on)', num(on.mbPerSecond, 1), '', ''])
  for (const p of [off, on].filter((p): p is Phase => p !== undefined)) {
    const w = p.wear as number
    rows.push([
      `device bytes per byte pushed, ${p.name.slice(6)}`,
      num(w, 3),
      '≤ 1.05',
      w <= 1.05 ? 'PASS' : 'MISS',
    ])
  }
  for (const [prefix, what] of [
    ['pull alone, then during scrub', 'scrub'],
    ['pull alone, then during GC', 'GC'],
    ['pull during a mirror', 'mirror'],
  ]) {
    const p = find(prefix)
    if (!p) continue
    const ran = what !== 'GC' || p.gcRan === true
    const f = p.fraction as number
    const verdict = !ran
      ? 'unclear: no GC pass was running when the window ended, nor logged as finished in it'
      : f >= 0.8
        ? 'PASS'
        : 'MISS'
    rows.push([
      `pull during ${what} / alone (${num(p.during, 0)} / ${num(p.alone, 0)} MB/s)`,
      num(f),
      '≥ 0.80',
      verdict,
    ])
  }
  const rss = Math.max(...phases.map((p) => (p.serverPeakRssMiB as number) ?? 0))
  const cgroup = Math.max(...phases.map((p) => (p.cgroupPeakMiB as number) ?? 0))
  const ooms = Math.max(...phases.map((p) => (p.oomKills as number) ?? 0))
  rows.push([
    'server peak RSS (VmHWM), all phases',
    `${rss.toFixed(1)} MiB`,
    '≤ 128 MiB',
    rss <= 128 ? 'PASS' : 'MISS',
  ])
  rows.push([
    `cgroup peak (${result.kind}, page cache included)`,
    `${cgroup.toFixed(1)} MiB`,
    '',
    '',
  ])
  rows.push(['OOM kills', String(ooms), '0', ooms === 0 ? 'PASS' : 'MISS'])
  console.log(
    `\nEdge (${result.kind})\n| figure | value | bar | verdict |\n| --- | ---: | ---: | --- |`,
  )
  for (const row of rows) console.log(`| ${row.join(' | ')} |`)
}
