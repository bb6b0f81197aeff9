// Printing the comparison: per figure the median and min–max over the rounds for each server,
// the Outpost/distribution ratio of the medians and issue 9's target for it (PASS/MISS are
// informational: a MISS does not change the exit status, only a failed request or a crash does),
// then each server's memory and CPU. The same figures go to the JSON file (run.ts).
import type { Usage } from './process-stats.js'
import type { Outcome } from './workloads.js'

export type WorkloadKey =
  | 'pushMonolithic'
  | 'pushChunked'
  | 'pull'
  | 'images'
  | 'manifests'
  | 'blobHeads'
  | 'tags'
  | 'catalog'

/** One attempt of one workload against one server. */
export interface WorkloadRun {
  key: WorkloadKey
  label: string
  /** the round it ran in, from 0 */
  round: number
  outcome: Outcome
  usage: Usage
}

export interface TargetRun {
  name: string
  command: string
  readyMs: number
  idleRssBytes: number
  /** the highest RSS from start to the end of the comparison */
  peakRssBytes: number
  /** CPU seconds of the process's whole life so far, and of the measured workloads alone */
  cpuSeconds: number
  measuredCpuSeconds: number
  attempts: WorkloadRun[]
}

export interface Spread {
  median: number
  min: number
  max: number
  values: number[]
}

/** One line of the comparison table. */
export interface Figure {
  key: WorkloadKey
  label: string
  unit: Outcome['unit']
  outpost: Spread
  distribution?: Spread
  /** Outpost median / distribution median */
  ratio?: number
  /** the least ratio issue 9 asks for, when it sets one */
  target?: number
  verdict?: 'PASS' | 'MISS'
  /** listings: median pages per full listing, per server */
  pages?: { outpost?: number; distribution?: number }
}

/** Issue 9's targets as issue 17 set them: median ratios Outpost / distribution. */
export const RATIO_TARGETS: Partial<Record<WorkloadKey, number>> = {
  pushMonolithic: 2.0,
  pushChunked: 2.0,
  pull: 1.0,
  images: 3.0,
  manifests: 5.0,
  blobHeads: 5.0,
}

/** Issue 9's footprint targets for Outpost, idle RSS as issue 17 set it (64 MiB stays the aim). */
export const FOOTPRINT_TARGETS = {
  idleRssMiB: 84,
  peakRssMiB: 128,
  readyMs: 1000,
  writeAmplification: 1.05,
}

export const MIB = 1024 * 1024
const GIB = 1024 * MIB
export const mib = (bytes: number) => (bytes / MIB).toFixed(1)

export function verdict(met: boolean): 'PASS' | 'MISS' {
  return met ? 'PASS' : 'MISS'
}

export function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
  return { median, min: sorted[0], max: sorted[sorted.length - 1], values }
}

function attemptsOf(run: TargetRun, key: WorkloadKey): WorkloadRun[] {
  return run.attempts.filter((a) => a.key === key)
}

function spreadOf(run: TargetRun, key: WorkloadKey, pick: (a: WorkloadRun) => number): Spread {
  return spread(attemptsOf(run, key).map(pick))
}

/** Disk bytes written per byte pushed, median over the rounds (write_bytes, and wchar). */
export function writeAmplification(run: TargetRun, key: WorkloadKey) {
  const pushes = attemptsOf(run, key).filter((a) => a.outcome.pushedBytes)
  if (pushes.length === 0) return undefined
  const per = (pick: (a: WorkloadRun) => number) =>
    spread(pushes.map((a) => pick(a) / a.outcome.pushedBytes!))
  return { writeBytes: per((a) => a.usage.io.storage), wchar: per((a) => a.usage.io.wchar) }
}

/** Server CPU seconds per GiB pushed, median over the rounds. */
export function cpuPerGiB(run: TargetRun, key: WorkloadKey): Spread | undefined {
  const pushes = attemptsOf(run, key).filter((a) => a.outcome.pushedBytes)
  if (pushes.length === 0) return undefined
  return spread(pushes.map((a) => a.usage.serverCpuSeconds / (a.outcome.pushedBytes! / GIB)))
}

export function figures(outpost: TargetRun, distribution: TargetRun | undefined): Figure[] {
  const keys = [...new Set(outpost.attempts.map((a) => a.key))]
  return keys.map((key) => {
    const first = attemptsOf(outpost, key)[0]
    const value = (a: WorkloadRun) => a.outcome.value
    const figure: Figure = {
      key,
      label: first.label,
      unit: first.outcome.unit,
      outpost: spreadOf(outpost, key, value),
    }
    const pages = (run: TargetRun) =>
      first.outcome.pagesPerListing === undefined
        ? undefined
        : spreadOf(run, key, (a) => a.outcome.pagesPerListing ?? 0).median
    if (first.outcome.pagesPerListing !== undefined) figure.pages = { outpost: pages(outpost) }
    if (distribution && attemptsOf(distribution, key).length > 0) {
      figure.distribution = spreadOf(distribution, key, value)
      figure.ratio = figure.outpost.median / figure.distribution.median
      if (figure.pages) figure.pages.distribution = pages(distribution)
    }
    figure.target = RATIO_TARGETS[key]
    if (figure.target !== undefined && figure.ratio !== undefined) {
      figure.verdict = verdict(figure.ratio >= figure.target)
    }
    return figure
  })
}

function row(cells: string[], widths: number[]): string {
  return cells
    .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
    .join('  ')
}

function shown({ median, min, max }: Spread): string {
  const digits = median >= 100 ? 0 : 1
  return `${median.toFixed(digits)} (${min.toFixed(digits)}–${max.toFixed(digits)})`
}

export function printComparison(list: Figure[], rounds: number): void {
  const widths = [44, 22, 22, 7, 13]
  console.log(`\nOutpost / distribution: median (min–max) of ${rounds} rounds`)
  console.log('  ' + row(['figure', 'Outpost', 'distribution', 'ratio', 'target'], widths))
  for (const f of list) {
    const cells = [
      `${f.label} ${f.unit}`,
      shown(f.outpost),
      f.distribution ? shown(f.distribution) : '-',
      f.ratio === undefined ? '-' : `${f.ratio.toFixed(2)}x`,
      f.target === undefined ? '' : `>= ${f.target.toFixed(1)}x ${f.verdict ?? '-'}`,
    ]
    console.log('  ' + row(cells, widths))
  }
  for (const f of list) {
    if (!f.pages) continue
    const { outpost, distribution } = f.pages
    const d = distribution === undefined ? '' : `, distribution ${distribution.toFixed(1)}`
    console.log(`  ${f.label}: pages per full listing: Outpost ${outpost?.toFixed(1)}${d}`)
  }
}

/** Memory and CPU of each server over the comparison. */
export function printResources(runs: TargetRun[], cores: number): void {
  const widths = [44, 14, 14]
  console.log(
    `\nServer resources (this ${cores}-core machine; the load generator shares its cores)`,
  )
  console.log('  ' + row(['', ...runs.map((r) => r.name)], widths))
  const line = (label: string, cell: (r: TargetRun) => string) =>
    console.log('  ' + row([label, ...runs.map(cell)], widths))
  const med = (s: Spread | undefined, digits: number) => (s ? s.median.toFixed(digits) : '-')
  line('ready after spawn (empty root) ms', (r) => r.readyMs.toFixed(0))
  line('idle RSS after warm-up MiB', (r) => mib(r.idleRssBytes))
  line('peak RSS, whole comparison MiB', (r) => mib(r.peakRssBytes))
  line('CPU s, measured workloads', (r) => r.measuredCpuSeconds.toFixed(1))
  line('CPU s, whole life', (r) => r.cpuSeconds.toFixed(1))
  line('CPU s per GiB pushed, monolithic', (r) => med(cpuPerGiB(r, 'pushMonolithic'), 2))
  line('CPU s per GiB pushed, chunked', (r) => med(cpuPerGiB(r, 'pushChunked'), 2))
  line('disk/pushed monolithic (write_bytes)', (r) =>
    med(writeAmplification(r, 'pushMonolithic')?.writeBytes, 3),
  )
  line('written/pushed monolithic (wchar)', (r) =>
    med(writeAmplification(r, 'pushMonolithic')?.wchar, 3),
  )
  const keys = [...new Set(runs[0].attempts.map((a) => a.key))]
  for (const key of keys) {
    const label = runs[0].attempts.find((a) => a.key === key)!.label
    const seconds = (pick: (a: WorkloadRun) => number) => (r: TargetRun) =>
      attemptsOf(r, key).length ? med(spreadOf(r, key, pick), 2) : '-'
    line(
      `  ${label}: server CPU s`,
      seconds((a) => a.usage.serverCpuSeconds),
    )
    if (key === 'pushMonolithic' || key === 'pushChunked' || key === 'pull') {
      line(
        `  ${label}: of which kernel s`,
        seconds((a) => a.usage.serverKernelSeconds),
      )
    }
    line(`  ${label}: peak RSS MiB`, (r) =>
      attemptsOf(r, key).length
        ? mib(Math.max(...attemptsOf(r, key).map((a) => a.usage.peakRssBytes)))
        : '-',
    )
  }
  const noisy = runs.flatMap((r) => r.attempts).reduce((n, a) => n + a.usage.otherCpuSeconds, 0)
  console.log(`  CPU used by other processes on the machine meanwhile: ${noisy.toFixed(1)} s`)
  for (const r of runs) {
    for (const a of r.attempts) {
      if (!a.outcome.failures) continue
      const { count, first } = a.outcome.failures
      console.log(`  FAILED: ${r.name} ${a.label} round ${a.round + 1}: ${count}; first: ${first}`)
    }
  }
}
