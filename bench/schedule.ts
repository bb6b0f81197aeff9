// Which workloads run, in what order, and how an attempt is measured. The targets take turns
// workload by workload (and attempt by attempt, alternating who goes first), so a slow minute
// on a shared virtual machine falls on both instead of skewing their ratio.
import { RegistryClient } from './client.js'
import { smallImage } from './payload.js'
import { rssBytes, settle, watch } from './process-stats.js'
import type { TargetRun, WorkloadKey, WorkloadRun } from './report.js'
import type { Target } from './targets.js'
import * as workloads from './workloads.js'
import type { Bench, Outcome, Plan } from './workloads.js'

interface Workload {
  key: WorkloadKey
  label: string
  run: (bench: Bench) => Promise<Outcome>
  /** big-blob workloads run `plan.runs` times and keep the best, to see past a busy neighbour */
  repeat: boolean
}

/** A target under test with its client and what it has done so far. */
export interface Contender {
  target: Target
  bench: Bench
  idleRssBytes: number
  runs: WorkloadRun[]
}

function workloadList(plan: Plan): Workload[] {
  const size = plan.sizeMiB % 1024 === 0 ? `${plan.sizeMiB / 1024} GiB` : `${plan.sizeMiB} MiB`
  const { pushMonolithic, pushChunked, pull, pushImages, getManifests } = workloads
  return [
    { key: 'pushMonolithic', label: `push ${size} monolithic`, run: pushMonolithic, repeat: true },
    { key: 'pushChunked', label: `push ${size} chunked`, run: pushChunked, repeat: true },
    { key: 'pull', label: `pull ${size}`, run: pull, repeat: true },
    {
      key: 'images',
      label: `push ${plan.images.length} small images`,
      run: pushImages,
      repeat: false,
    },
    { key: 'manifests', label: `manifest GET ${plan.seconds} s`, run: getManifests, repeat: false },
  ]
}

/** Warm a freshly started target up and take its idle RSS. */
export async function enter(target: Target, plan: Plan): Promise<Contender> {
  const client = new RegistryClient(target.url, plan.manifestConcurrency)
  const bench: Bench = { client, plan, attempt: 0, pushed: [] }
  const contender: Contender = { target, bench, idleRssBytes: 0, runs: [] }
  console.log(`${target.name} (pid ${target.pid}) on ${target.url.origin}`)
  await workloads.warmUp(client, smallImage(plan.images.length))
  await new Promise((resolve) => setTimeout(resolve, 1000))
  contender.idleRssBytes = rssBytes(target.pid)
  return contender
}

async function measure(contender: Contender, workload: Workload): Promise<WorkloadRun> {
  const stop = watch(contender.target.pid)
  let outcome: Outcome
  try {
    outcome = await workload.run(contender.bench)
  } catch (err) {
    stop()
    throw err
  }
  const { key, label } = workload
  return { key, label, outcome, usage: stop(), values: [outcome.value] }
}

/** The best attempt, with the highest peak RSS of them all. */
function best(attempts: WorkloadRun[]): WorkloadRun {
  const top = attempts.reduce((a, b) => (b.outcome.value > a.outcome.value ? b : a))
  const peakRssBytes = Math.max(...attempts.map((a) => a.usage.peakRssBytes))
  const values = attempts.map((a) => a.outcome.value)
  return { ...top, usage: { ...top.usage, peakRssBytes }, values }
}

/** Every workload against every contender, taking turns; results land in `contender.runs`. */
export async function runAll(contenders: Contender[], plan: Plan): Promise<void> {
  for (const workload of workloadList(plan)) {
    const attempts = new Map<Contender, WorkloadRun[]>(contenders.map((c) => [c, []]))
    for (let i = 0; i < (workload.repeat ? plan.runs : 1); i++) {
      const order = i % 2 === 0 ? contenders : [...contenders].reverse()
      for (const contender of order) {
        contender.bench.attempt = i
        await settle()
        attempts.get(contender)!.push(await measure(contender, workload))
      }
    }
    for (const contender of contenders) {
      const result = best(attempts.get(contender)!)
      contender.runs.push(result)
      const { unit, failures } = result.outcome
      const values = result.values.map((v) => v.toFixed(1)).join(', ')
      const failed = failures ? ` (${failures.count} failed)` : ''
      const who = contender.target.name.padEnd(13)
      console.log(`  ${workload.label.padEnd(26)} ${who} ${values} ${unit}${failed}`)
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

export function resultOf(contender: Contender): TargetRun {
  const { target, idleRssBytes, runs } = contender
  return { name: target.name, command: target.command, idleRssBytes, runs }
}
