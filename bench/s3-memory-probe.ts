// Where a server's resident memory goes, for the S3 bench's BENCH_S3_MEMORY=1: a preload module
// (`node --import`, so nothing in src/ changes) samples process.memoryUsage() every 50 ms inside
// the server and, on SIGUSR2, writes the peaks since the last SIGUSR2 to a file and starts over.
// It tells Buffers (arrayBuffers, outside the V8 heap) from JavaScript objects (heapUsed) from
// memory the allocator holds but nothing uses (rss minus both).
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
}

export interface MemoryProbe {
  /** node flags that load the probe into the server */
  nodeArgs: string[]
  /** start a new measurement window in process `pid` */
  reset(pid: number): Promise<void>
  /** the peaks of the window since the last reset or read; a new window starts */
  read(pid: number): Promise<MemoryPeaks>
}

function preload(file: string): string {
  return `
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
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
function restart() {
  atRssPeak = usage()
  max = { ...atRssPeak }
}
function sample() {
  const now = usage()
  if (now.rss > atRssPeak.rss) atRssPeak = now
  for (const key of Object.keys(max)) max[key] = Math.max(max[key], now[key])
}
restart()
setInterval(sample, 50).unref()
process.on('SIGUSR2', () => {
  sample()
  seq += 1
  writeFileSync(file + '.tmp', JSON.stringify({ seq, atRssPeak, max }))
  renameSync(file + '.tmp', file)
  restart()
})
`
}

/** A probe whose module and report file live in `dir` (a directory the caller removes). */
export function memoryProbe(dir: string): MemoryProbe {
  const script = join(dir, 'memory-probe.mjs')
  const report = join(dir, 'memory-probe.json')
  writeFileSync(script, preload(report))
  let seq = 0

  async function collect(pid: number): Promise<MemoryPeaks> {
    seq += 1
    process.kill(pid, 'SIGUSR2')
    const deadline = Date.now() + 5000
    for (;;) {
      if (existsSync(report)) {
        const parsed = JSON.parse(readFileSync(report, 'utf8')) as MemoryPeaks & { seq: number }
        if (parsed.seq === seq) return { atRssPeak: parsed.atRssPeak, max: parsed.max }
      }
      if (Date.now() > deadline) throw new Error(`memory probe in pid ${pid} did not answer`)
      await sleep(20)
    }
  }

  return {
    nodeArgs: [`--import=${pathToFileURL(script).href}`],
    reset: async (pid) => void (await collect(pid)),
    read: collect,
  }
}
