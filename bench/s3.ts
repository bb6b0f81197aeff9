// The S3 figures of `npm run bench` (issue 5): one blob pushed monolithic, one pushed chunked and
// the first pulled back, through Outpost with its blobs on S3 (s3rver on this machine standing in
// for the bucket, chunksize 5 MiB unless set), with the server's idle RSS, its peak RSS during
// each workload (and, for pushes, while receiving into local staging and while carrying to S3)
// and the difference. Target: peak within 64 MiB of idle, since the server should hold a few
// multipart parts (chunksize x (queue + 1): src/storage/s3/multipart-writer.ts), never the blob.
//
// Alone: `node --import tsx bench/s3.ts` (builds Outpost first). In `npm run bench` it runs last;
// BENCH_SKIP_S3=1 leaves it out there. Settings:
//   BENCH_S3_SIZE_MIB  blob size in MiB (default 1024; BENCH_SIZE_MIB does not size this part)
//   BENCH_S3_CHUNK_MIB storageDriver.chunksize in MiB (default 5, S3's smallest part; Outpost's
//                      own default is 10, and each MiB here holds 3 MiB more: queue + 1 parts)
//   BENCH_S3_MEMORY=1  load a probe into the server (`node --import`, src/ untouched) and print
//                      its process.memoryUsage() at each peak: V8 heap, Buffers, and the rest;
//                      BENCH_S3_MEMORY=gc also forces a full GC every 100 ms in the server
//                      (a diagnosis: live memory only, not what V8 lets pile up; slower)
//   BENCH_OUTPOST_NODE_ARGS  node flags for the server, as for the main bench
//   BENCH_S3_NO_BUILD=1 (alone only) run dist/ as it is instead of `npm run build` first
// Disk: the staged upload, s3rver's parts and the object it assembles from them, beside the
// blob stored before, take about 4x the blob under os.tmpdir(); checked before starting. Every
// directory (Outpost's root, s3rver's store) is removed afterwards, also on error or Ctrl-C.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync, statfsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { s3rverDriverConfig, startS3rver, type S3Server } from '../test/helpers/s3.js'
import { RegistryClient } from './client.js'
import { blobDigest, MIB, smallImage } from './payload.js'
import { rssBytes, settle, watch } from './process-stats.js'
import {
  memoryProbe,
  type MemoryPeaks,
  type MemoryProbe,
  type MemorySample,
} from './s3-memory-probe.js'
import { killAllSync, startOutpost, type Target } from './targets.js'
import {
  pull,
  pushChunked,
  pushMonolithic,
  warmUp,
  type Bench,
  type Outcome,
  type Plan,
} from './workloads.js'

/** The target: peak RSS at most this far above idle. */
const TARGET_MIB = 64

export interface S3Row {
  label: string
  outcome: Outcome
  /** RSS just before the workload (idle plus whatever earlier workloads left behind) */
  beforeBytes: number
  peakBytes: number
  pass: boolean
  /** pushes: RSS peaks while the body went to local staging, then while it went up to S3 */
  phases?: Phases
  memory?: MemoryPeaks
}

interface Phases {
  staging: number
  carrying: number
}

export interface S3Result {
  sizeMiB: number
  idleBytes: number
  rows: S3Row[]
  /** RSS once everything is done and the machine settled */
  afterBytes: number
}

function envMiB(name: string, fallback: number, least = 1): number {
  const text = process.env[name]
  if (text === undefined || text === '') return fallback
  const value = Number(text)
  if (!Number.isInteger(value) || value < least) {
    throw new Error(`${name} must be an integer of at least ${least}, not ${text}`)
  }
  return value
}

function mib(bytes: number): string {
  return (bytes / MIB).toFixed(1)
}

/** Two distinct blobs (seeds apart from the main bench's), digests computed ahead. */
function s3Plan(size: number): Plan {
  return {
    sizeMiB: size,
    seconds: 0,
    runs: 1,
    monolithic: [{ seed: 5001, digest: blobDigest(5001, size) }],
    chunked: [{ seed: 6001, digest: blobDigest(6001, size) }],
    images: [],
    imageConcurrency: 1,
    manifestConcurrency: 1,
  }
}

/** Refuse to start without room for about four copies of the blob (plus 512 MiB) in `dir`. */
function checkDisk(dir: string, size: number): void {
  const { bavail, bsize } = statfsSync(dir)
  const free = bavail * bsize
  const needed = (4 * size + 512) * MIB
  if (free < needed) {
    throw new Error(
      `${dir} has ${mib(free)} MiB free; the S3 bench needs about ${mib(needed)} MiB ` +
        '(lower BENCH_S3_SIZE_MIB or point TMPDIR elsewhere)',
    )
  }
  console.log(`  disk: ${mib(free)} MiB free under ${dir}, about ${mib(needed)} MiB needed`)
}

/**
 * A directory of this bench's own under os.tmpdir(), removed by `remove()` or, should the
 * process exit first (run.ts's Ctrl-C handler calls process.exit), by an exit listener.
 */
function scratchDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-bench-s3-'))
  const removeNow = () =>
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 })
  process.once('exit', removeNow)
  return {
    dir,
    remove() {
      process.removeListener('exit', removeNow)
      removeNow()
    },
  }
}

/**
 * s3rver with its store inside `dir`, so the exit listener of scratchDir() removes it too.
 * startS3rver() names its directory from os.tmpdir() before its first await: TMPDIR points at
 * `dir` for that synchronous stretch only.
 */
async function startS3rverIn(dir: string): Promise<S3Server> {
  const saved = process.env.TMPDIR
  process.env.TMPDIR = dir
  let starting: Promise<S3Server>
  try {
    starting = startS3rver({ bucket: 'outpost-bench' })
  } finally {
    if (saved === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = saved
  }
  const s3 = await starting
  if (!readdirSync(dir).some((name) => name.startsWith('outpost-s3rver-'))) {
    console.log(`  note: s3rver's store is not under ${dir}; an interrupted run may leave it`)
  }
  return s3
}

/** Outpost on `s3`, with the memory probe's flags added to BENCH_OUTPOST_NODE_ARGS if asked. */
async function startOutpostOn(
  repoRoot: string,
  s3: S3Server,
  chunkMiB: number,
  probe?: MemoryProbe,
) {
  const saved = process.env.BENCH_OUTPOST_NODE_ARGS
  if (probe) process.env.BENCH_OUTPOST_NODE_ARGS = [saved ?? '', ...probe.nodeArgs].join(' ')
  try {
    return await startOutpost(repoRoot, {
      dedupe: false,
      storageDriver: s3rverDriverConfig(s3, { rootdirectory: 'bench', chunksize: chunkMiB * MIB }),
    })
  } finally {
    if (saved === undefined) delete process.env.BENCH_OUTPOST_NODE_ARGS
    else process.env.BENCH_OUTPOST_NODE_ARGS = saved
  }
}

/**
 * RSS peaks of `pid` (sampled every 25 ms) before and after its first CreateMultipartUpload
 * reaches `s3`: a push is received into local staging first and carried up to S3 at its final
 * PUT, and the two phases hold different buffers.
 */
function watchPhases(pid: number, s3: S3Server): () => Phases {
  const peaks: Phases = { staging: 0, carrying: 0 }
  let seen = s3.requests.length
  let carrying = false
  const sample = () => {
    for (; seen < s3.requests.length; seen++) {
      const { method, query } = s3.requests[seen]
      if (method === 'POST' && query.includes('uploads')) carrying = true
    }
    try {
      const rss = rssBytes(pid)
      if (carrying) peaks.carrying = Math.max(peaks.carrying, rss)
      else peaks.staging = Math.max(peaks.staging, rss)
    } catch {
      // The server exited: the workload fails on its own.
    }
  }
  const timer = setInterval(sample, 25)
  return () => {
    clearInterval(timer)
    sample()
    return peaks
  }
}

/** One process.memoryUsage() sample, RSS split by where it is. */
function breakdown(at: MemorySample): string {
  const rest = at.rss - at.heapTotal - at.external
  return (
    `(${mib(at.rss)}: anon ${mib(at.rssAnon)}, file ${mib(at.rssFile)}): V8 heap ` +
    `${mib(at.heapUsed)} used of ${mib(at.heapTotal)}, external ${mib(at.external)} ` +
    `(Buffers ${mib(at.arrayBuffers)}), rest ${mib(rest)}`
  )
}

function printRow(row: S3Row, idle: number): void {
  const over = row.peakBytes - idle
  console.log(
    `  ${row.label.padEnd(24)} ${row.outcome.value.toFixed(1).padStart(7)} ` +
      `${mib(idle).padStart(8)} ${mib(row.beforeBytes).padStart(8)} ` +
      `${mib(row.peakBytes).padStart(8)} ${('+' + mib(over)).padStart(9)}  ` +
      `${row.pass ? 'PASS' : 'MISS'}`,
  )
  if (row.phases) {
    const { staging, carrying } = row.phases
    console.log(
      `      receiving into local staging: peak ${mib(staging)} (+${mib(staging - idle)}); ` +
        `carrying to S3: peak ${mib(carrying)} (+${mib(carrying - idle)})`,
    )
  }
  if (!row.memory) return
  console.log(`      at its RSS peak ${breakdown(row.memory.atRssPeak)}`)
  console.log(
    `      highest in the workload: Buffers ${mib(row.memory.max.arrayBuffers)}, ` +
      `V8 heap ${mib(row.memory.max.heapTotal)}, file-backed ${mib(row.memory.max.rssFile)}; ` +
      `GCs: ${row.memory.gcs.minor} scavenges, ${row.memory.gcs.major} mark-compacts`,
  )
}

async function measureAll(
  target: Target,
  s3: S3Server,
  plan: Plan,
  probe?: MemoryProbe,
): Promise<S3Result> {
  const { pid } = target
  const client = new RegistryClient(target.url, 4)
  try {
    const bench: Bench = { client, plan, attempt: 0, pushed: [] }
    // As the main bench: every code path (S3 client included) once, with small blobs only.
    await warmUp(client, smallImage(0))
    await sleep(1000)
    await settle()
    const idle = rssBytes(pid)
    if (probe) console.log(`  idle ${breakdown((await probe.read(pid)).now)}`)
    const size = plan.sizeMiB % 1024 === 0 ? `${plan.sizeMiB / 1024} GiB` : `${plan.sizeMiB} MiB`
    console.log(
      `  ${'workload'.padEnd(24)} ${'MB/s'.padStart(7)} ${'idle'.padStart(8)} ` +
        `${'before'.padStart(8)} ${'peak'.padStart(8)} ${'peak-idle'.padStart(9)}  ` +
        `target +${TARGET_MIB} MiB (RSS in MiB)`,
    )
    const rows: S3Row[] = []
    for (const [label, run] of [
      [`push ${size} monolithic`, pushMonolithic],
      [`push ${size} chunked`, pushChunked],
      [`pull ${size}`, pull],
    ] as const) {
      await settle()
      const beforeBytes = rssBytes(pid)
      if (probe) await probe.reset(pid)
      const stop = watch(pid)
      const stopPhases = run === pull ? undefined : watchPhases(pid, s3)
      const outcome = await run(bench)
      const { peakRssBytes } = stop()
      const phases = stopPhases?.()
      const memory = probe ? await probe.read(pid) : undefined
      const pass = peakRssBytes - idle <= TARGET_MIB * MIB
      const peakBytes = peakRssBytes
      const row: S3Row = { label, outcome, beforeBytes, peakBytes, pass, phases, memory }
      rows.push(row)
      printRow(row, idle)
    }
    await settle()
    const afterBytes = rssBytes(pid)
    console.log(
      `  RSS afterwards: ${mib(afterBytes)} MiB (+${mib(afterBytes - idle)} over idle); ` +
        `target ${rows.every((r) => r.pass) ? 'met' : 'missed'}`,
    )
    return { sizeMiB: plan.sizeMiB, idleBytes: idle, rows, afterBytes }
  } finally {
    client.close()
  }
}

/** The S3 part; `_plan` (the main bench's) is accepted for run.ts and not used. */
export async function s3Bench(repoRoot: string, _plan?: Plan): Promise<S3Result> {
  const size = envMiB('BENCH_S3_SIZE_MIB', 1024)
  // The S3 API's smallest part by default: the least memory an upload can hold.
  const chunkMiB = envMiB('BENCH_S3_CHUNK_MIB', 5, 5)
  console.log(`\nS3 backend (Outpost against s3rver on this machine, chunksize ${chunkMiB} MiB)`)
  const scratch = scratchDir()
  try {
    checkDisk(scratch.dir, size)
    console.log(`  preparing content: 2 blobs of ${size} MiB`)
    const plan = s3Plan(size)
    const mode = process.env.BENCH_S3_MEMORY
    const probe =
      mode === '1' || mode === 'gc' ? memoryProbe(scratch.dir, mode === 'gc') : undefined
    const s3 = await startS3rverIn(scratch.dir)
    try {
      const target = await startOutpostOn(repoRoot, s3, chunkMiB, probe)
      console.log(`  Outpost pid ${target.pid}: ${target.command}`)
      try {
        return await measureAll(target, s3, plan, probe)
      } catch (err) {
        const output = target.output().trim()
        if (output) console.error(`\nOutpost printed:\n${output}\n`)
        throw err
      } finally {
        await target.stop()
      }
    } finally {
      await s3.stop()
    }
  } finally {
    scratch.remove()
    const left = existsSync(scratch.dir) ? `; ${scratch.dir} NOT removed` : ''
    console.log(`  temporary directories removed${left}`)
  }
}

const isMain =
  process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)

if (isMain) {
  process.once('exit', killAllSync)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAllSync()
      process.exit(130)
    })
  }
  const repoRoot = fileURLToPath(new URL('..', import.meta.url))
  if (process.env.BENCH_S3_NO_BUILD === '1') console.log('using dist/ as it is (BENCH_S3_NO_BUILD)')
  else {
    console.log('building Outpost (npm run build)')
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: repoRoot, stdio: 'inherit' })
  }
  s3Bench(repoRoot).catch((err) => {
    console.error(`S3 bench failed: ${(err as Error)?.stack ?? err}`)
    process.exitCode = 1
  })
}
