// Printing the results: one table per target, then Outpost/distribution ratios and the targets
// Outpost aims for. PASS/MISS are informational: a MISS does not change the exit status (only a
// failed request or a crash does).
import type { Usage } from './process-stats.js'
import type { Outcome } from './workloads.js'

export type WorkloadKey = 'pushMonolithic' | 'pushChunked' | 'pull' | 'images' | 'manifests'

export interface WorkloadRun {
  key: WorkloadKey
  label: string
  outcome: Outcome
  usage: Usage
  /** every attempt's figure; `outcome` is the best of them */
  values: number[]
}

export interface TargetRun {
  name: string
  command: string
  idleRssBytes: number
  runs: WorkloadRun[]
}

const MIB = 1024 * 1024
/** Outpost's memory target: a 1 GiB push costs at most this much over idle (DESIGN.md inv. 4). */
const PUSH_RSS_ALLOWANCE_MIB = 48
const PUSH_TARGET = 1.5
const MANIFEST_TARGET = 3

const mib = (bytes: number) => (bytes / MIB).toFixed(1)

function row(cells: string[], widths: number[]): string {
  return cells
    .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
    .join('  ')
}

/** What the columns mean; "other CPU" is the noise a shared machine adds to a figure. */
export function printLegend(cores: number): void {
  console.log(
    `\nCPU seconds per workload on this ${cores}-core machine: server = the registry process, ` +
      'client = this load generator, other = everything else meanwhile (a large value means ' +
      'the figure is noisy). Big-blob figures are the best of their runs.',
  )
}

export function printTarget(run: TargetRun): void {
  const widths = [26, 10, 8, 12, 10, 10, 10]
  console.log(`\n${run.name}: ${run.command}`)
  console.log(`  idle RSS after start and warm-up: ${mib(run.idleRssBytes)} MiB`)
  const heads = [
    'workload',
    'result',
    'unit',
    'peak RSS MiB',
    'server CPU',
    'client CPU',
    'other CPU',
  ]
  console.log('  ' + row(heads, widths))
  for (const { label, outcome, usage } of run.runs) {
    const cells = [
      label,
      outcome.value.toFixed(1),
      outcome.unit,
      mib(usage.peakRssBytes),
      `${usage.serverCpuSeconds.toFixed(2)} s`,
      `${usage.clientCpuSeconds.toFixed(2)} s`,
      `${usage.otherCpuSeconds.toFixed(2)} s`,
    ]
    console.log('  ' + row(cells, widths))
  }
  for (const { label, outcome, values } of run.runs) {
    if (values.length < 2) continue
    const all = values.map((v) => v.toFixed(1)).join(' / ')
    console.log(`  ${label}: best of ${values.length} runs (${all} ${outcome.unit})`)
  }
  for (const { label, outcome } of run.runs) {
    if (!outcome.failures) continue
    const { count, first } = outcome.failures
    console.log(`  FAILED: ${label}: ${count} failed; the first: ${first}`)
  }
}

function find(run: TargetRun, key: WorkloadKey): WorkloadRun {
  const found = run.runs.find((r) => r.key === key)
  if (!found) throw new Error(`${run.name} has no result for ${key}`)
  return found
}

function verdict(met: boolean): string {
  return met ? 'PASS' : 'MISS'
}

/** Ratios and targets; `distribution` is undefined when it could not be run. */
export function printComparison(outpost: TargetRun, distribution: TargetRun | undefined): void {
  const ratio = (key: WorkloadKey) =>
    find(outpost, key).outcome.value / find(distribution!, key).outcome.value
  if (distribution) {
    console.log('\nOutpost / distribution')
    for (const key of ['pushMonolithic', 'pushChunked', 'pull', 'images', 'manifests'] as const) {
      console.log(`  ${find(outpost, key).label.padEnd(26)}  ${ratio(key).toFixed(2)}x`)
    }
  }

  console.log('\nTargets')
  for (const key of ['pushMonolithic', 'pushChunked'] as const) {
    const push = find(outpost, key)
    const growth = (push.usage.peakRssBytes - outpost.idleRssBytes) / MIB
    const met = growth <= PUSH_RSS_ALLOWANCE_MIB
    console.log(
      `  Outpost peak RSS during ${push.label} within ${PUSH_RSS_ALLOWANCE_MIB} MiB of idle ` +
        `(+${growth.toFixed(1)} MiB): ${verdict(met)}`,
    )
  }
  if (!distribution) {
    console.log('  push and manifest GET targets: not evaluated (distribution was not run)')
    return
  }
  for (const key of ['pushMonolithic', 'pushChunked'] as const) {
    const r = ratio(key)
    console.log(
      `  ${find(outpost, key).label} >= ${PUSH_TARGET}x distribution (${r.toFixed(2)}x): ` +
        verdict(r >= PUSH_TARGET),
    )
  }
  const m = ratio('manifests')
  console.log(
    `  manifest GET >= ${MANIFEST_TARGET}x distribution (${m.toFixed(2)}x): ${verdict(m >= MANIFEST_TARGET)}`,
  )
}
