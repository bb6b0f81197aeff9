// What a server process costs, read from /proc: resident memory (VmRSS, sampled every 50 ms
// while a workload runs, plus the kernel's own high-water mark VmHWM reset at the start so a
// spike between samples is not missed) and CPU time (utime + stime), beside the load
// generator's own CPU and what the rest of the machine used meanwhile (other people's work
// on a shared machine shows up there, and explains a noisy figure).
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'

const KIB = 1024
const SAMPLE_MS = 50
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100

function statusField(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1')
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)
  if (!match) throw new Error(`/proc/${pid}/status has no ${field}`)
  return Number(match[1]) * KIB
}

/** Resident set size of `pid`, in bytes. */
export function rssBytes(pid: number): number {
  return statusField(pid, 'VmRSS')
}

/** The kernel's peak-RSS mark (VmHWM) of `pid`: the most since start or the last reset. */
export function peakRssMark(pid: number): number {
  return statusField(pid, 'VmHWM')
}

/** CPU seconds (user + system) `pid` (or one of its threads) has used so far. */
export function cpuSeconds(pid: number, tid?: number): number {
  const [user, kernel] = userKernelTicks(pid, tid)
  return (user + kernel) / CLOCK_TICKS
}

/** The part of cpuSeconds spent in the kernel (system calls, page faults). */
export function kernelCpuSeconds(pid: number): number {
  return userKernelTicks(pid)[1] / CLOCK_TICKS
}

function userKernelTicks(pid: number, tid?: number): [number, number] {
  const stat = readFileSync(`/proc/${pid}${tid === undefined ? '' : `/task/${tid}`}/stat`, 'latin1')
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15 of stat(5).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return [Number(fields[11]), Number(fields[12])]
}

/**
 * CPU seconds per thread of `pid` (/proc/<pid>/task), keyed by thread id: tells the main thread
 * from libuv's pool (file system calls) and V8's workers (compilation, GC).
 */
export function threadCpuSeconds(pid: number): Map<number, number> {
  const threads = new Map<number, number>()
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      threads.set(Number(tid), cpuSeconds(pid, Number(tid)))
    } catch {
      // the thread ended meanwhile
    }
  }
  return threads
}

/** Reset the kernel's peak-RSS mark (proc(5) clear_refs "5"); false where not permitted. */
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

/** CPU seconds the whole machine spent busy (user, nice, system, irq, softirq; not steal). */
function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]
  const [user, nice, system, , , irq, softirq] = line.trim().split(/\s+/).slice(1).map(Number)
  return (user + nice + system + irq + softirq) / CLOCK_TICKS
}

function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1e6
}

/** Bytes a process has written: to storage (write_bytes less cancelled) and through write(2). */
export interface IoBytes {
  /**
   * write_bytes - cancelled_write_bytes: counted when a page is dirtied (not at writeback), so a
   * deferred flush is already in it; pages dirtied twice before writeback count once
   */
  storage: number
  /** wchar: every byte passed to write(2) and friends, sockets included */
  wchar: number
}

/** /proc/<pid>/io of `pid` (readable for our own children). */
export function ioBytes(pid: number): IoBytes {
  const text = readFileSync(`/proc/${pid}/io`, 'latin1')
  const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)`, 'm').exec(text)?.[1] ?? NaN)
  return {
    storage: field('write_bytes') - field('cancelled_write_bytes'),
    wchar: field('wchar'),
  }
}

export interface Usage {
  peakRssBytes: number
  /** bytes the server wrote while watched (see IoBytes) */
  io: IoBytes
  /** CPU used by the server under test */
  serverCpuSeconds: number
  /** the part of it in the kernel: on the development VM, new page cache is most of a push's */
  serverKernelSeconds: number
  /** CPU used by this process, the load generator */
  clientCpuSeconds: number
  /** CPU used by everything else on the machine meanwhile: noise in the figures */
  otherCpuSeconds: number
}

/** Watch `pid` from now until the returned stop function is called. */
export function watch(pid: number): () => Usage {
  const before = {
    server: cpuSeconds(pid),
    kernel: kernelCpuSeconds(pid),
    client: ownCpuSeconds(),
    machine: machineBusySeconds(),
  }
  const ioBefore = ioBytes(pid)
  const kernelPeak = resetPeak(pid)
  let peak = rssBytes(pid)
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssBytes(pid))
    } catch {
      // The process exited: the workload fails on its own, with a clearer error.
    }
  }, SAMPLE_MS)
  return () => {
    clearInterval(timer)
    peak = Math.max(peak, rssBytes(pid))
    if (kernelPeak) peak = Math.max(peak, statusField(pid, 'VmHWM'))
    const server = cpuSeconds(pid) - before.server
    const client = ownCpuSeconds() - before.client
    const machine = machineBusySeconds() - before.machine
    const ioAfter = ioBytes(pid)
    return {
      peakRssBytes: peak,
      io: { storage: ioAfter.storage - ioBefore.storage, wchar: ioAfter.wchar - ioBefore.wchar },
      serverCpuSeconds: server,
      serverKernelSeconds: kernelCpuSeconds(pid) - before.kernel,
      clientCpuSeconds: client,
      otherCpuSeconds: Math.max(0, machine - server - client),
    }
  }
}

/**
 * Before a measurement: flush dirty pages, so writeback of the previous run's gigabyte does not
 * overlap this one, then give other work on the machine up to `maxMs` to quieten (under a
 * quarter of one core busy over 250 ms, while client and server are idle). Returns the busy
 * fraction last seen.
 */
export async function settle(maxMs = 5000): Promise<number> {
  execFileSync('sync')
  const deadline = Date.now() + maxMs
  for (;;) {
    const before = machineBusySeconds()
    await sleep(250)
    const busy = (machineBusySeconds() - before) / 0.25
    if (busy < 0.25 || Date.now() >= deadline) return busy
  }
}
