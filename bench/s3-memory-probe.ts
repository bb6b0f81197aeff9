// Where a server's resident memory goes, for the S3 bench's BENCH_S3_MEMORY=1: a preload module
// (`node --import`, so nothing in src/ changes) samples process.memoryUsage() every 50 ms inside
// the server and, on SIGUSR2, writes the peaks since the last SIGUSR2 to a file and starts over.
// It tells Buffers (arrayBuffers, outside the V8 heap) from JavaScript objects (heapUsed) from
// memory the allocator holds but nothing uses (rss minus both). With `forceGc` it also runs a
// full garbage collection every 100 ms (--expose-gc): what is left is what the server really
// holds, as opposed to what V8 lets accumulate between collections. A diagnosis, slower.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'

/** process.memoryUsage(), in bytes. */
export interface MemorySample {
  rss: number
  heapTotal: number
  heapUsed: number
  external: number
  arrayBuffers: number
  /** /proc/self/status: anonymous memory, and file pages mapped in (code, LMDB's map) */
  rssAnon: number
  rssFile: number
}

export interface MemoryPeaks {
  /** the whole sample taken when rss was highest */
  atRssPeak: MemorySample
  /** each field's own highest value (not necessarily at the same moment) */
  max: MemorySample
  /** the sample taken when asked */
  now: MemorySample
  /** garbage collections in the window: scavenges (minor) and mark-compacts (major) */
  gcs: { minor: number; major: number }
}

export interface MemoryProbe {
  /** node flags that load the probe into the server */
  nodeArgs: string[]
  /** start a new measurement window in process `pid` */
  reset(pid: number): Promise<void>
  /** the peaks of the window since the last reset or read; a new window starts */
  read(pid: number): Promise<MemoryPeaks>
}

function preload(file: string, forceGc: boolean): string {
  return `
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { constants, PerformanceObserver } from 'node:perf_hooks'
const file = ${JSON.stringify(file)}
let seq = 0
let atRssPeak
let max
function usage() {
  const status = readFileSync('/proc/self/status', 'latin1')
  const lines = status.split(String.fromCharCode(10))
  const kib = (field) =>
    Number((lines.find((line) => line.startsWith(field + ':')) ?? '').replace(/[^0-9]/g, '')) * 1024
  return { ...process.memoryUsage(), rssAnon: kib('RssAnon'), rssFile: kib('RssFile') }
}
let gcs
function restart() {
  atRssPeak = usage()
  max = { ...atRssPeak }
  gcs = { minor: 0, major: 0 }
}
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) gcs.minor += 1
    else if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) gcs.major += 1
  }
}).observe({ entryTypes: ['gc'] })
function sample() {
  const now = usage()
  if (now.rss > atRssPeak.rss) atRssPeak = now
  for (const key of Object.keys(max)) max[key] = Math.max(max[key], now[key])
}
restart()
setInterval(sample, 50).unref()
if (${forceGc}) setInterval(() => globalThis.gc(), 100).unref()
process.on('SIGUSR2', () => {
  const now = usage()
  if (now.rss > atRssPeak.rss) atRssPeak = now
  for (const key of Object.keys(max)) max[key] = Math.max(max[key], now[key])
  seq += 1
  writeFileSync(file + '.tmp', JSON.stringify({ seq, atRssPeak, max, now, gcs }))
  renameSync(file + '.tmp', file)
  restart()
})
`
}

/** A probe whose module and report file live in `dir` (a directory the caller removes). */
export function memoryProbe(dir: string, forceGc = false): MemoryProbe {
  const script = join(dir, 'memory-probe.mjs')
  const report = join(dir, 'memory-probe.json')
  writeFileSync(script, preload(report, forceGc))
  let seq = 0

  async function collect(pid: number): Promise<MemoryPeaks> {
    seq += 1
    process.kill(pid, 'SIGUSR2')
    const deadline = Date.now() + 5000
    for (;;) {
      if (existsSync(report)) {
        const parsed = JSON.parse(readFileSync(report, 'utf8')) as MemoryPeaks & { seq: number }
        const { seq: answered, ...peaks } = parsed
        if (answered === seq) return peaks
      }
      if (Date.now() > deadline) throw new Error(`memory probe in pid ${pid} did not answer`)
      await sleep(20)
    }
  }

  return {
    nodeArgs: [...(forceGc ? ['--expose-gc'] : []), `--import=${pathToFileURL(script).href}`],
    reset: async (pid) => void (await collect(pid)),
    read: collect,
  }
}
