// `npm run bench [-- --vs distribution] [--only comparison] [--json PATH]`: the same workloads
// against Outpost (compiled, in a child process, with the Node options its systemd unit ships)
// and Debian's docker-registry (CNCF distribution 2.8), interleaved A B, B A, ... for BENCH_RUNS
// rounds (default 3, at least 3 for a median worth having); prints per figure the median,
// min–max and the Outpost/distribution ratio of the medians against issue 9's targets, both
// servers' RSS and CPU, then Outpost's footprint (default and constrained profiles, see
// footprint.ts), and writes every figure to a JSON file. BENCH_SIZE_MIB (default 512) sizes the
// big blob, BENCH_SECONDS (default 10) the manifest GET and blob HEAD runs, BENCH_LIST_SECONDS
// (default 3) the tags list and catalog runs. BENCH_OUTPOST_NODE_ARGS adds node flags to the
// Outpost server (e.g. --cpu-prof), BENCH_DISTRIBUTION_BIN points at another distribution
// binary. Then, unless `--only comparison` (or BENCH_ONLY=comparison): Outpost's background work
// (maintenance.ts), S3 (s3.ts), the pull-through cache, the periodic mirror (mirror.ts) and auth,
// each skipped by its BENCH_SKIP_*. Issue 17's sections run on their own: `--only real-clients`
// (skopeo and the synthetic client in 32 KiB / 1 MiB writes, real-clients.ts), `--only listings`
// (10,000 repositories, listing-scale.ts), `--only operator-page` (bench/ui.ts) and `--edge` (the small board, edge.ts); see
// docs/performance.md.
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import {
  CONSTRAINED_PROFILE,
  DEFAULT_PROFILE,
  footprintOf,
  printFootprint,
  startFigures,
  workloadRun,
} from './footprint.js'
import { maintenanceBench } from './maintenance.js'
import { s3Bench } from './s3.js'
import { pullThroughBench } from './pull-through.js'
import { describeCost, pageCacheSecondsPerGiB } from './page-cache-probe.js'
import { mirrorBench } from './mirror.js'
import { authBench } from './auth.js'
import { printRealClients, realClientBench } from './real-clients.js'
import { listingScaleBench } from './listing-scale.js'
import { edgeBench, printEdge } from './edge.js'
import { uiBench } from './ui.js'
import { blobDigest, smallImage } from './payload.js'
import { figures, printComparison, printResources, type TargetRun } from './report.js'
import { enter, reportOutput, resultOf, runAll, type Contender } from './schedule.js'
import {
  DISTRIBUTION_BIN,
  haveDistribution,
  killAllSync,
  startDistribution,
  startOutpost,
  shippedNodeOptions,
  type Target,
} from './targets.js'
import type { BigBlob, Plan } from './workloads.js'

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url))
const IMAGE_COUNT = 200

function positiveInteger(name: string, fallback: number): number {
  const text = process.env[name]
  if (text === undefined || text === '') return fallback
  const value = Number(text)
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`${name} must be a positive integer, not ${text}`)
  }
  return value
}

function bigBlobs(firstSeed: number, count: number, mib: number): BigBlob[] {
  return Array.from({ length: count }, (_, i) => ({
    seed: firstSeed + i,
    digest: blobDigest(firstSeed + i, mib),
  }))
}

function makePlan(): Plan {
  const sizeMiB = positiveInteger('BENCH_SIZE_MIB', 512)
  const runs = positiveInteger('BENCH_RUNS', 3)
  if (runs < 3) console.log(`BENCH_RUNS=${runs}: issue 9 asks for at least 3 rounds`)
  console.log(`preparing content: ${2 * runs} blobs of ${sizeMiB} MiB, ${IMAGE_COUNT} small images`)
  return {
    sizeMiB,
    seconds: positiveInteger('BENCH_SECONDS', 10),
    runs,
    monolithic: bigBlobs(1, runs, sizeMiB),
    chunked: bigBlobs(1001, runs, sizeMiB),
    images: Array.from({ length: IMAGE_COUNT }, (_, n) => smallImage(n)),
    imageConcurrency: 8,
    manifestConcurrency: 8,
    chunkMiB: 8,
    listSeconds: positiveInteger('BENCH_LIST_SECONDS', 3),
    pageSize: 50,
    catalogRepos: 100,
  }
}

/** `--only` sections: the comparison, then issue 17's own (real-clients.ts, listing-scale.ts). */
const ONLY = ['comparison', 'real-clients', 'listings', 'operator-page'] as const
type Only = (typeof ONLY)[number]

interface Options {
  vs: 'distribution'
  only?: Only
  /** issue 17's small-board run (edge.ts) instead of everything else */
  edge: boolean
  json: string
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      vs: { type: 'string', default: 'distribution' },
      only: { type: 'string', default: process.env.BENCH_ONLY || undefined },
      json: { type: 'string', default: process.env.BENCH_JSON || undefined },
      edge: { type: 'boolean', default: false },
    },
  })
  if (values.vs !== 'distribution') {
    throw new Error(`--vs ${values.vs}: only "distribution" (Debian's docker-registry) is known`)
  }
  if (values.only !== undefined && !(ONLY as readonly string[]).includes(values.only)) {
    throw new Error(`--only ${values.only}: one of ${ONLY.join(', ')}`)
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  const json = values.json ? resolve(values.json) : join(tmpdir(), `outpost-bench-${stamp}.json`)
  return { vs: 'distribution', only: values.only as Only | undefined, edge: values.edge!, json }
}

/** Outpost and distribution side by side, `plan.runs` rounds; their results, servers stopped. */
async function comparison(plan: Plan): Promise<TargetRun[]> {
  const starters: Array<() => Promise<Target>> = [
    () => startOutpost(REPO_ROOT, {}, { shipped: true }),
  ]
  if (haveDistribution()) starters.push(startDistribution)
  else {
    console.log(
      `${DISTRIBUTION_BIN} is missing: skipping the distribution half ` +
        '(install the Debian package docker-registry to compare).',
    )
  }
  const targets: Target[] = []
  const contenders: Contender[] = []
  try {
    for (const start of starters) {
      const target = await start()
      targets.push(target)
      contenders.push(await enter(target, plan))
    }
    await runAll(contenders, plan)
    for (const target of targets) reportOutput(target)
    return contenders.map(resultOf)
  } catch (err) {
    for (const target of targets) {
      const output = target.output().trim()
      if (output) console.error(`\n${target.name} printed:\n${output}\n`)
    }
    throw err
  } finally {
    for (const { bench } of contenders) bench.client.close()
    for (const target of targets) await target.stop()
  }
}

async function main(): Promise<void> {
  const opts = options()
  console.log('building Outpost (npm run build)')
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: REPO_ROOT, stdio: 'inherit' })
  if (opts.edge || opts.only === 'real-clients' || opts.only === 'listings') {
    return issue17Section(opts)
  }
  if (opts.only === 'operator-page') return uiBench()
  const plan = makePlan()
  const nodeOptions = shippedNodeOptions(REPO_ROOT)
  console.log(`Outpost runs with NODE_OPTIONS=${nodeOptions || '(none)'} (bin/outpost)`)

  const pageCacheBefore = pageCacheSecondsPerGiB()
  console.log(describeCost('before the comparison', pageCacheBefore))
  const [outpost, distribution] = await comparison(plan)
  const pageCacheAfter = pageCacheSecondsPerGiB()
  console.log(describeCost('after the comparison', pageCacheAfter))
  console.log(`\nOutpost footprint: ${CONSTRAINED_PROFILE.name} profile, one round`)
  const constrained = await workloadRun(REPO_ROOT, plan, CONSTRAINED_PROFILE)
  console.log('start-up with 1,000 repositories and 10,000 blobs stored')
  const footprint = [
    footprintOf(DEFAULT_PROFILE, outpost, await startFigures(REPO_ROOT, DEFAULT_PROFILE)),
    footprintOf(
      CONSTRAINED_PROFILE,
      constrained,
      await startFigures(REPO_ROOT, CONSTRAINED_PROFILE),
    ),
  ]

  const list = figures(outpost, distribution)
  printComparison(list, plan.runs)
  printResources(
    [outpost, distribution].filter((r): r is TargetRun => r !== undefined),
    availableParallelism(),
  )
  printFootprint(footprint)
  const { monolithic, chunked, images, ...settings } = plan
  const results = {
    date: new Date().toISOString(),
    machine: {
      cores: availableParallelism(),
      node: process.version,
      pageCacheSecondsPerGiB: { before: pageCacheBefore, after: pageCacheAfter },
    },
    plan: { ...settings, images: images.length, outpostNodeOptions: nodeOptions },
    figures: list,
    servers: [outpost, distribution, constrained].filter(Boolean),
    footprint,
  }
  writeFileSync(opts.json, JSON.stringify(results, null, 2) + '\n')
  console.log(`\nall figures written to ${opts.json}`)
  const runs = [outpost, distribution, constrained].filter(Boolean) as TargetRun[]
  if (runs.some((run) => run.attempts.some((a) => a.outcome.failures))) {
    console.log('\nsome requests failed (see above): exiting with status 1')
    process.exitCode = 1
  }
  if (opts.only === 'comparison') return

  // GC, dedupe pass and scrub (issues 3 and 4); BENCH_SKIP_MAINTENANCE=1 leaves them out.
  if (process.env.BENCH_SKIP_MAINTENANCE !== '1') {
    await maintenanceBench({ scrubMiB: plan.sizeMiB, seconds: plan.seconds })
  }
  // The S3 backend (issue 5); BENCH_SKIP_S3=1 leaves it out.
  if (process.env.BENCH_SKIP_S3 !== '1') await s3Bench(REPO_ROOT, plan)
  // A 256 MiB layer's first pull through the pull-through cache against the upstream directly
  // (issue 6); BENCH_SKIP_PULL_THROUGH=1 leaves it out.
  if (process.env.BENCH_SKIP_PULL_THROUGH !== '1') await pullThroughBench(REPO_ROOT)
  // A BENCH_SIZE_MIB image mirrored by a server's first periodic pass, through a clean link and
  // a link cut every MiB (issue 15); BENCH_SKIP_MIRROR=1 leaves it out.
  if (process.env.BENCH_SKIP_MIRROR !== '1') await mirrorBench(REPO_ROOT, plan.sizeMiB)
  // Manifest GETs with basic auth on versus off (issue 7); BENCH_SKIP_AUTH=1 leaves it out.
  if (process.env.BENCH_SKIP_AUTH !== '1') await authBench(REPO_ROOT, plan.seconds)
  // The operator's page: render CPU and idle RSS (issue 18); BENCH_SKIP_UI=1 leaves it out.
  if (process.env.BENCH_SKIP_UI !== '1') await uiBench()
}

/** One of issue 17's sections on its own; its figures go to the JSON file too. */
async function issue17Section(opts: Options): Promise<void> {
  let results: unknown
  if (opts.only === 'real-clients') {
    const plan = {
      sizeMiB: positiveInteger('BENCH_SIZE_MIB', 512),
      runs: positiveInteger('BENCH_RUNS', 3),
      chunkMiB: 8,
    }
    const figures = await realClientBench(REPO_ROOT, plan)
    printRealClients(figures)
    results = { plan, figures }
  } else if (opts.only === 'listings') {
    results = await listingScaleBench(REPO_ROOT, {
      repos: positiveInteger('BENCH_CATALOG_REPOS', 10_000),
      tags: positiveInteger('BENCH_TAGS', 5_000),
      requests: positiveInteger('BENCH_LIST_REQUESTS', 2_000),
    })
  } else {
    const edge = await edgeBench(REPO_ROOT, {
      sizeMiB: positiveInteger('BENCH_SIZE_MIB', 256),
      seconds: positiveInteger('BENCH_EDGE_SECONDS', 10),
    })
    printEdge(edge)
    results = edge
  }
  const machine = { cores: availableParallelism(), node: process.version }
  writeFileSync(
    opts.json,
    JSON.stringify({ date: new Date().toISOString(), machine, results }, null, 2) + '\n',
  )
  console.log(`\nall figures written to ${opts.json}`)
}

process.once('exit', killAllSync)
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    killAllSync()
    process.exit(130)
  })
}

main().catch((err) => {
  console.error(`bench failed: ${(err as Error)?.stack ?? err}`)
  process.exitCode = 1
})
