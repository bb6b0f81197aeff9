// Which workloads run, in what order, and how an attempt is measured. The comparison runs in
// rounds (BENCH_RUNS, at least 3); within a round the targets take turns workload by workload,
// and who goes first alternates from round to round (A B, B A, A B, ...), so a slow minute on a
// shared virtual machine falls on both instead of skewing their ratio. Every attempt is kept;
// report.ts takes medians and ranges.
import { RegistryClient } from './client.js'
import { catalogFixture, listCatalog, listTags } from './listing.js'
import { smallImage } from './payload.js'
import { cpuSeconds, peakRssMark, rssBytes, settle, watch } from './process-stats.js'
import type { TargetRun, WorkloadKey, WorkloadRun } from './report.js'
import type { Target } from './targets.js'
import * as workloads from './workloads.js'
import type { Bench, Outcome, Plan } from './workloads.js'

interface Workload {
  key: WorkloadKey
  label: string
  run: (bench: Bench) => Promise<Outcome>
  /** big transfers: flush the page cache's dirty pages first and wait longer for a quiet machine */
  big: boolean
}

/** A target under test with its client and what it has done so far. */
export interface Contender {
  target: Target
  bench: Bench
  idleRssBytes: number
  /** the highest RSS seen from start to the end of the comparison */
  peakRssBytes: number
  /** CPU seconds at the end of the warm-up, to tell the measured part from start-up */
  cpuAtStart: number
  attempts: WorkloadRun[]
}

export function sizeLabel(mib: number): string {
  return mib % 1024 === 0 ? `${mib / 1024} GiB` : `${mib} MiB`
}

export function workloadList(plan: Plan): Workload[] {
  const size = sizeLabel(plan.sizeMiB)
  const n = plan.pageSize ?? 50
  const { pushMonolithic, pushChunked, pull, pushImages, getManifests, headBlobs } = workloads
  const w = (key: WorkloadKey, label: string, run: Workload['run'], big = false) => ({
    key,
    label,
    run,
    big,
  })
  return [
    w('pushMonolithic', `push ${size} monolithic`, pushMonolithic, true),
    w('pushChunked', `push ${size} chunked ${plan.chunkMiB ?? 16} MiB`, pushChunked, true),
    w('pull', `pull ${size} (digest checked)`, pull, true),
    w('images', `push ${plan.images.length} small images`, pushImages),
    w('manifests', `manifest GET by tag ${plan.seconds} s`, getManifests),
    w('blobHeads', `blob HEAD ${plan.seconds} s`, headBlobs),
    w('tags', `tags list ?n=${n} ${plan.listSeconds ?? plan.seconds} s`, listTags),
    w('catalog', `catalog ?n=${n} ${plan.listSeconds ?? plan.seconds} s`, listCatalog),
  ]
}

/** Warm a freshly started target up, give its catalog repositories, and take its idle RSS. */
export async function enter(target: Target, plan: Plan): Promise<Contender> {
  const client = new RegistryClient(target.url, plan.manifestConcurrency)
  const bench: Bench = { client, plan, attempt: 0, pushed: [] }
  console.log(
    `${target.name} (pid ${target.pid}) on ${target.url.origin}: ready in ${target.readyMs.toFixed(0)} ms`,
  )
  await workloads.warmUp(client, smallImage(plan.images.length))
  await catalogFixture(bench)
  await new Promise((resolve) => setTimeout(resolve, 1000))
  const idleRssBytes = rssBytes(target.pid)
  const cpuAtStart = cpuSeconds(target.pid)
  // VmHWM is not reset before the first workload: this is the peak of start-up and warm-up.
  const peakRssBytes = Math.max(idleRssBytes, peakRssMark(target.pid))
  return { target, bench, idleRssBytes, peakRssBytes, cpuAtStart, attempts: [] }
}

async function measure(contender: Contender, workload: Workload): Promise<WorkloadRun> {
  const { pid } = contender.target
  const stop = watch(pid)
  let outcome: Outcome
  try {
    outcome = await workload.run(contender.bench)
  } catch (err) {
    stop()
    throw err
  }
  // write_bytes is counted as pages are dirtied; a short pause (no sync) lets the last of the
  // upload's writes land before the counter is read.
  if (outcome.pushedBytes) await new Promise((resolve) => setTimeout(resolve, 250))
  const usage = stop()
  contender.peakRssBytes = Math.max(contender.peakRssBytes, usage.peakRssBytes)
  const { key, label } = workload
  return { key, label, round: contender.bench.attempt, outcome, usage }
}

function show(contender: Contender, run: WorkloadRun): void {
  const { outcome, usage, label } = run
  const failed = outcome.failures ? ` (${outcome.failures.count} failed)` : ''
  const who = contender.target.name.padEnd(13)
  const cpu = `server CPU ${usage.serverCpuSeconds.toFixed(2)} s (kernel ${usage.serverKernelSeconds.toFixed(2)})`
  const value = `${outcome.value.toFixed(1)} ${outcome.unit}`
  console.log(`  ${label.padEnd(34)} ${who} ${value.padStart(16)}  ${cpu}${failed}`)
}

/** Every workload against every contender, `plan.runs` rounds, taking turns. */
export async function runAll(contenders: Contender[], plan: Plan): Promise<void> {
  const list = workloadList(plan)
  for (let round = 0; round < plan.runs; round++) {
    const order = round % 2 === 0 ? contenders : [...contenders].reverse()
    console.log(
      `round ${round + 1} of ${plan.runs}: ${order.map((c) => c.target.name).join(', ')} first`,
    )
    for (const workload of list) {
      for (const contender of order) {
        contender.bench.attempt = round
        if (workload.big) await settle()
        else await settle(1500)
        const run = await measure(contender, workload)
        contender.attempts.push(run)
        show(contender, run)
      }
    }
  }
}

/** A server at log level error prints nothing on a clean run; anything it did print matters. */
export function reportOutput(target: Target): void {
  const lines = target.output().trim().split('\n').filter(Boolean)
  if (lines.length === 0) return
  console.log(`\nWARNING: ${target.name} printed ${lines.length} line(s) (last 16 KiB kept):`)
  for (const line of lines.slice(0, 8)) console.log(`  ${line.slice(0, 300)}`)
}

/** What report.ts needs of a contender, read while its process is still running. */
export function resultOf(contender: Contender): TargetRun {
  const { target, idleRssBytes, attempts } = contender
  const { pid } = target
  const peakRssBytes = Math.max(contender.peakRssBytes, rssBytes(pid))
  return {
    name: target.name,
    command: target.command,
    readyMs: target.readyMs,
    idleRssBytes,
    peakRssBytes,
    cpuSeconds: cpuSeconds(pid),
    measuredCpuSeconds: cpuSeconds(pid) - contender.cpuAtStart,
    attempts,
  }
}
