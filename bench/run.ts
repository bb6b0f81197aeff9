// `npm run bench`: the same workloads against Outpost (compiled, in a child process) and Debian's
// docker-registry (CNCF distribution 2.8) on this machine, the two taking turns workload by
// workload, then figures, ratios and targets. BENCH_SIZE_MIB (default 1024) sizes the big blob,
// BENCH_SECONDS (default 10) the manifest GET run, BENCH_RUNS (default 3) how often each
// big-blob workload runs (the best run counts: on a shared machine, a slow run measures the
// neighbours). BENCH_OUTPOST_NODE_ARGS adds node flags to the Outpost server (e.g. --cpu-prof),
// BENCH_DISTRIBUTION_BIN points at another distribution binary. The load generator shares the
// machine's cores with the servers under test. Then Outpost's background work: a GC pass, the
// startup dedupe pass, scrub throughput and pulls during a scrub (BENCH_SKIP_MAINTENANCE=1 skips).
import { execFileSync } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import { maintenanceBench } from './maintenance.js'
import { s3Bench } from './s3.js'
import { pullThroughBench } from './pull-through.js'
import { authBench } from './auth.js'
import { blobDigest, smallImage } from './payload.js'
import { printComparison, printLegend, printTarget } from './report.js'
import { enter, reportOutput, resultOf, runAll, type Contender } from './schedule.js'
import {
  DISTRIBUTION_BIN,
  haveDistribution,
  killAllSync,
  startDistribution,
  startOutpost,
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
  const sizeMiB = positiveInteger('BENCH_SIZE_MIB', 1024)
  const runs = positiveInteger('BENCH_RUNS', 3)
  console.log(`preparing content: ${2 * runs} blobs of ${sizeMiB} MiB, ${IMAGE_COUNT} small images`)
  return {
    sizeMiB,
    seconds: positiveInteger('BENCH_SECONDS', 10),
    runs,
    monolithic: bigBlobs(1, runs, sizeMiB),
    chunked: bigBlobs(1001, runs, sizeMiB),
    images: Array.from({ length: IMAGE_COUNT }, (_, n) => smallImage(n)),
    imageConcurrency: 8,
    manifestConcurrency: 16,
  }
}

async function main(): Promise<void> {
  console.log('building Outpost (npm run build)')
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: REPO_ROOT, stdio: 'inherit' })
  const plan = makePlan()

  const starters: Array<() => Promise<Target>> = [() => startOutpost(REPO_ROOT)]
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

  const [outpost, distribution] = contenders.map(resultOf)
  printLegend(availableParallelism())
  for (const run of [outpost, distribution]) if (run) printTarget(run)
  printComparison(outpost, distribution)
  if ([outpost, distribution].some((run) => run?.runs.some((r) => r.outcome.failures))) {
    console.log('\nsome requests failed (see above): exiting with status 1')
    process.exitCode = 1
  }
  // GC, dedupe pass and scrub (issues 3 and 4); BENCH_SKIP_MAINTENANCE=1 leaves them out.
  if (process.env.BENCH_SKIP_MAINTENANCE !== '1') {
    await maintenanceBench({ scrubMiB: plan.sizeMiB, seconds: plan.seconds })
  }
  // The S3 backend (issue 5); BENCH_SKIP_S3=1 leaves it out.
  if (process.env.BENCH_SKIP_S3 !== '1') await s3Bench(REPO_ROOT, plan)
  // A 256 MiB layer's first pull through the pull-through cache against the upstream directly
  // (issue 6); BENCH_SKIP_PULL_THROUGH=1 leaves it out.
  if (process.env.BENCH_SKIP_PULL_THROUGH !== '1') await pullThroughBench(REPO_ROOT)
  // Manifest GETs with basic auth on versus off (issue 7); BENCH_SKIP_AUTH=1 leaves it out.
  if (process.env.BENCH_SKIP_AUTH !== '1') await authBench(REPO_ROOT, plan.seconds)
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
