// Outpost's footprint (issue 9): idle RSS, peak RSS over the whole benchmark, time from spawn
// to ready (first 200 on GET /v2/) with 1,000 repositories and 10,000 blobs already stored,
// disk bytes written per byte pushed and CPU seconds per GiB pushed. Under the default profile
// (the Node options the systemd unit ships) the memory, write and CPU figures come from the
// comparison's own Outpost process; under the constrained profile (one core via `taskset -c 0`,
// V8's heap capped with --max-old-space-size=64, standing in for a small board) a separate
// Outpost runs one round of the same workloads. The start-up figures come from a server started
// on a generated layout (layout-generator.ts): once with no `_outpost/` (a layout copied in, the
// index to be rebuilt) and once more after a clean stop (the everyday restart).
import { setTimeout as sleep } from 'node:timers/promises'
import { expectStatus, RegistryClient } from './client.js'
import { generateLayout, type GeneratedLayout } from './layout-generator.js'
import { OCI_MANIFEST } from './payload.js'
import { cpuSeconds, rssBytes } from './process-stats.js'
import {
  cpuPerGiB,
  FOOTPRINT_TARGETS,
  mib,
  MIB,
  verdict,
  writeAmplification,
  type TargetRun,
} from './report.js'
import { enter, reportOutput, resultOf, runAll, type Contender } from './schedule.js'
import { scratchDir, startOutpost, type OutpostOptions } from './targets.js'
import type { Plan } from './workloads.js'

export interface Profile {
  name: string
  wrapper: string[]
  nodeArgs: string[]
}

export const DEFAULT_PROFILE: Profile = { name: 'default', wrapper: [], nodeArgs: [] }
export const CONSTRAINED_PROFILE: Profile = {
  name: 'constrained',
  wrapper: ['taskset', '-c', '0'],
  nodeArgs: ['--max-old-space-size=64'],
}

const LAYOUT_REPOS = 1000
const LAYOUT_BLOBS_PER_REPO = 10

export interface StartFigures {
  layout: Omit<GeneratedLayout, 'sample'>
  /** ms from spawn to ready: no `_outpost/` yet, then after a clean stop */
  coldReadyMs: number
  warmReadyMs: number
  /** RSS once the first start's background work went quiet */
  idleRssWithLayoutBytes: number
  /** seconds until that first start's CPU went quiet (index rebuild and the like) */
  quietAfterSeconds: number
}

export interface ProfileFootprint {
  profile: string
  command: string
  idleRssBytes: number
  peakRssBytes: number
  start: StartFigures
  writeAmplification?: { writeBytes: number; wchar: number }
  cpuSecondsPerGiB: { monolithic?: number; chunked?: number }
  verdicts: Record<
    'idleRss' | 'peakRss' | 'readyCold' | 'readyWarm' | 'writeAmplification',
    'PASS' | 'MISS'
  >
}

function options(profile: Profile, extra: OutpostOptions = {}): OutpostOptions {
  const name = profile === DEFAULT_PROFILE ? 'Outpost' : `Outpost (${profile.name})`
  return { name, wrapper: profile.wrapper, nodeArgs: profile.nodeArgs, shipped: true, ...extra }
}

/** Wait until `pid` uses under 2% of a core over two 250 ms looks in a row (at most 30 s). */
async function quiet(pid: number): Promise<number> {
  const began = performance.now()
  let calm = 0
  while (calm < 2 && performance.now() - began < 30_000) {
    const before = cpuSeconds(pid)
    await sleep(250)
    calm = cpuSeconds(pid) - before < 0.005 ? calm + 1 : 0
  }
  return (performance.now() - began) / 1000
}

/** The generated image really is served: its manifest by tag and one layer's HEAD. */
async function checkServed(url: URL, sample: GeneratedLayout['sample']): Promise<void> {
  const client = new RegistryClient(url, 1)
  try {
    const headers = { Accept: OCI_MANIFEST }
    const path = `/v2/${sample.repo}/manifests/${sample.tag}`
    const reply = expectStatus(await client.call('GET', path, { headers }), 200, `GET ${path}`)
    if (reply.headers['docker-content-digest'] !== sample.manifestDigest) {
      throw new Error(`GET ${path}: digest ${reply.headers['docker-content-digest']}`)
    }
    const blob = `/v2/${sample.repo}/blobs/${sample.layerDigest}`
    expectStatus(await client.call('HEAD', blob), 200, `HEAD ${blob}`)
  } finally {
    client.close()
  }
}

/** Start Outpost twice on a generated layout of 1,000 repositories and 10,000 blobs. */
export async function startFigures(repoRoot: string, profile: Profile): Promise<StartFigures> {
  const scratch = scratchDir('outpost-layout-')
  try {
    const { sample, ...layout } = generateLayout(scratch.dir, LAYOUT_REPOS, LAYOUT_BLOBS_PER_REPO)
    const rootDirectory = scratch.dir
    const first = await startOutpost(repoRoot, {}, options(profile, { rootDirectory }))
    let quietAfterSeconds: number
    let idleRssWithLayoutBytes: number
    try {
      await checkServed(first.url, sample)
      quietAfterSeconds = await quiet(first.pid)
      idleRssWithLayoutBytes = rssBytes(first.pid)
      reportOutput(first)
    } finally {
      await first.stop()
    }
    const second = await startOutpost(repoRoot, {}, options(profile, { rootDirectory }))
    try {
      await checkServed(second.url, sample)
      reportOutput(second)
    } finally {
      await second.stop()
    }
    return {
      layout,
      coldReadyMs: first.readyMs,
      warmReadyMs: second.readyMs,
      idleRssWithLayoutBytes,
      quietAfterSeconds,
    }
  } finally {
    await scratch.remove()
  }
}

/** One round of the comparison's workloads against a fresh Outpost under `profile`. */
export async function workloadRun(
  repoRoot: string,
  plan: Plan,
  profile: Profile,
): Promise<TargetRun> {
  const target = await startOutpost(repoRoot, {}, options(profile))
  let contender: Contender | undefined
  try {
    contender = await enter(target, plan)
    await runAll([contender], { ...plan, runs: 1 })
    reportOutput(target)
    return resultOf(contender)
  } catch (err) {
    const output = target.output().trim()
    if (output) console.error(`\n${target.name} printed:\n${output}\n`)
    throw err
  } finally {
    contender?.bench.client.close()
    await target.stop()
  }
}

/** The footprint figures of one profile, from its workload run and its start figures. */
export function footprintOf(
  profile: Profile,
  run: TargetRun,
  start: StartFigures,
): ProfileFootprint {
  const amplification = writeAmplification(run, 'pushMonolithic')
  const t = FOOTPRINT_TARGETS
  const wa = amplification?.writeBytes.median
  return {
    profile: profile.name,
    command: run.command,
    idleRssBytes: run.idleRssBytes,
    peakRssBytes: run.peakRssBytes,
    start,
    writeAmplification: amplification && {
      writeBytes: amplification.writeBytes.median,
      wchar: amplification.wchar.median,
    },
    cpuSecondsPerGiB: {
      monolithic: cpuPerGiB(run, 'pushMonolithic')?.median,
      chunked: cpuPerGiB(run, 'pushChunked')?.median,
    },
    verdicts: {
      idleRss: verdict(run.idleRssBytes <= t.idleRssMiB * MIB),
      peakRss: verdict(run.peakRssBytes <= t.peakRssMiB * MIB),
      // Each start is judged on its own: the row printed is the row judged.
      readyCold: verdict(start.coldReadyMs <= t.readyMs),
      readyWarm: verdict(start.warmReadyMs <= t.readyMs),
      writeAmplification: verdict(wa !== undefined && wa <= t.writeAmplification),
    },
  }
}

export function printFootprint(list: ProfileFootprint[]): void {
  const t = FOOTPRINT_TARGETS
  const widths = [52, 16, 16, 12]
  const row = (cells: string[]) =>
    '  ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
  const layout = list[0]?.start.layout
  console.log('\nOutpost footprint')
  for (const f of list) console.log(`  ${f.profile}: ${f.command}`)
  if (layout) {
    console.log(
      `  start-up layout: ${layout.repos} repositories, ${layout.blobs} blobs ` +
        `(generated on disk in ${layout.seconds.toFixed(1)} s)`,
    )
  }
  console.log(row(['figure', ...list.map((f) => f.profile), 'target']))
  const line = (label: string, cell: (f: ProfileFootprint) => string, target: string) =>
    console.log(row([label, ...list.map(cell), target]))
  const v = (f: ProfileFootprint, key: keyof ProfileFootprint['verdicts']) => ` ${f.verdicts[key]}`
  const num = (n: number | undefined, digits: number) => (n === undefined ? '-' : n.toFixed(digits))
  line('idle RSS MiB', (f) => mib(f.idleRssBytes) + v(f, 'idleRss'), `<= ${t.idleRssMiB}`)
  line(
    'peak RSS over the benchmark MiB',
    (f) => mib(f.peakRssBytes) + v(f, 'peakRss'),
    `<= ${t.peakRssMiB}`,
  )
  line(
    'ready ms, layout copied in (no _outpost/)',
    (f) => f.start.coldReadyMs.toFixed(0) + v(f, 'readyCold'),
    `<= ${t.readyMs}`,
  )
  line(
    'ready ms, restart after a clean stop',
    (f) => f.start.warmReadyMs.toFixed(0) + v(f, 'readyWarm'),
    `<= ${t.readyMs}`,
  )
  line(
    '  start-up background work s (CPU quiet after)',
    (f) => f.start.quietAfterSeconds.toFixed(1),
    '',
  )
  line('  RSS with the layout, once quiet MiB', (f) => mib(f.start.idleRssWithLayoutBytes), '')
  line(
    'disk bytes per byte pushed (write_bytes)',
    (f) => num(f.writeAmplification?.writeBytes, 3) + v(f, 'writeAmplification'),
    `<= ${t.writeAmplification}`,
  )
  line('  written per byte pushed (wchar)', (f) => num(f.writeAmplification?.wchar, 3), '')
  line('CPU s per GiB pushed, monolithic', (f) => num(f.cpuSecondsPerGiB.monolithic, 2), '')
  line('CPU s per GiB pushed, chunked', (f) => num(f.cpuSecondsPerGiB.chunked, 2), '')
}
