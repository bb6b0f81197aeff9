// What the budget service measures (issue: "Budgets"): CPU load caused by others, memory
// available to us (the machine's, and the cgroup's when systemd limits the unit, which
// systeminformation's mem() cannot see), and the I/O of the one block device holding the storage
// root (its own line in /proc/diskstats, not machine-wide totals). Sampling reads /proc and /sys;
// it spawns no process. That rules out systeminformation's currentLoad(): on Linux it runs
// `cat /proc/stat | grep cpu` through execSync on every call, blocking the event loop meanwhile.
// CPU times come from os.cpus() instead (libuv reads /proc/stat); mem() only reads /proc/meminfo.
// Only the CPUs this process may run on count (its affinity: `Cpus_allowed_list`, which a cgroup
// cpuset or `taskset` narrows): a busy core the registry can never be scheduled on takes nothing
// from its requests, so it must not hold background work back.
import { readFile, stat } from 'node:fs/promises'
import { cpus, type CpuInfo } from 'node:os'
import si from 'systeminformation'

export interface Sample {
  /** percent of the CPUs this process may run on busy with work other than this process */
  othersCpuPercent: number
  /** bytes of memory still available to this process */
  availableMemory: number
  /** cumulative bytes read and written on the storage's device, when it is known */
  deviceIoBytes?: number
}

export interface Sampler {
  sample(): Promise<Sample>
}

/** The /proc/diskstats line of a device, by major:minor (sectors are 512 bytes there). */
export async function deviceIoBytes(
  major: number,
  minor: number,
  diskstats = '/proc/diskstats',
): Promise<number | undefined> {
  const text = await readFile(diskstats, 'utf8').catch(() => '')
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/)
    if (Number(f[0]) === major && Number(f[1]) === minor) {
      return (Number(f[5]) + Number(f[9])) * 512 // sectors read + sectors written
    }
  }
  return undefined
}

/**
 * The cgroup's memory headroom for cgroup v2 or v1, when a limit is set: the limit minus the
 * working set. The usage counts page cache too, which the kernel reclaims at the limit, so a
 * cgroup that has read a lot sits near its limit; its inactive file pages are subtracted (as
 * kubelet's working set does), or reading blobs would make the budget pause itself for good.
 */
export async function cgroupHeadroom(
  procCgroup = '/proc/self/cgroup',
  root = '/sys/fs/cgroup',
): Promise<number | undefined> {
  const text = await readFile(procCgroup, 'utf8').catch(() => '')
  const read = async (path: string) => (await readFile(path, 'utf8').catch(() => '')).trim()
  for (const line of text.split('\n')) {
    const [, controllers, path] = line.split(':')
    if (path === undefined) continue
    let files: { dir: string; usage: string; limit: string; inactive: string }
    if (controllers === '') {
      files = {
        dir: `${root}${path}`,
        usage: 'memory.current',
        limit: 'memory.max',
        inactive: 'inactive_file',
      }
    } else if (controllers.split(',').includes('memory')) {
      files = {
        dir: `${root}/memory${path}`,
        usage: 'memory.usage_in_bytes',
        limit: 'memory.limit_in_bytes',
        inactive: 'total_inactive_file',
      }
    } else continue
    const usage = await read(`${files.dir}/${files.usage}`)
    const limit = await read(`${files.dir}/${files.limit}`)
    const max = Number(limit)
    // "max" (v2) or a near-2^63 value (v1) means no limit; a missing file is not a limit of 0.
    if (!usage || !limit || !Number.isFinite(max) || max >= 2 ** 60) continue
    const memoryStat = await read(`${files.dir}/memory.stat`)
    const found = new RegExp(`^${files.inactive} (\\d+)$`, 'm').exec(memoryStat)
    const inactive = Number(found?.[1] ?? 0)
    return Math.max(0, max - Math.max(0, Number(usage) - inactive))
  }
  return undefined
}

/**
 * The CPU numbers of a `Cpus_allowed_list` line of /proc/<pid>/status ("0-3,6"), or undefined
 * when the status has none (not Linux) or it cannot be read.
 */
export function allowedCpus(status: string): Set<number> | undefined {
  const list = /^Cpus_allowed_list:\s*(\S+)\s*$/m.exec(status)?.[1]
  if (!list) return undefined
  const allowed = new Set<number>()
  for (const part of list.split(',')) {
    const [from, to = from] = part.split('-').map(Number)
    if (!Number.isInteger(from) || !Number.isInteger(to)) return undefined
    for (let cpu = from; cpu <= to; cpu++) allowed.add(cpu)
  }
  return allowed
}

/**
 * Busy and total milliseconds since boot of the CPUs in `allowed` (all when undefined, or when
 * none of them is listed); iowait counts as neither.
 */
export function cpuTimes(
  allowed?: ReadonlySet<number>,
  list: Array<Pick<CpuInfo, 'times'>> = cpus(),
): { busy: number; total: number } {
  const counted = allowed && list.some((_, n) => allowed.has(n))
  let busy = 0
  let idle = 0
  list.forEach(({ times }, n) => {
    if (counted && !allowed.has(n)) return
    busy += times.user + times.nice + times.sys + times.irq
    idle += times.idle
  })
  return { busy, total: busy + idle }
}

/** Samples the real machine through systeminformation and /proc. */
export class SystemSampler implements Sampler {
  private lastCpu = process.cpuUsage()
  private lastTimes: { busy: number; total: number }
  private othersCpuPercent = 0
  private device?: { major: number; minor: number }

  /** `allowed`: the CPUs this process may run on (read once: affinity is set before start). */
  private constructor(private readonly allowed?: ReadonlySet<number>) {
    this.lastTimes = cpuTimes(allowed)
  }

  /** `root` is the storage directory: its device is the one whose I/O is budgeted. */
  static async forRoot(root: string): Promise<SystemSampler> {
    const status = await readFile('/proc/self/status', 'utf8').catch(() => '')
    const sampler = new SystemSampler(allowedCpus(status))
    const info = await stat(root).catch(() => null)
    if (info)
      sampler.device = {
        major: Math.floor(info.dev / 256) & 0xfff,
        minor: (info.dev & 0xff) | ((info.dev >> 12) & 0xfff00),
      }
    return sampler
  }

  async sample(): Promise<Sample> {
    const [mem, cgroup] = await Promise.all([si.mem(), cgroupHeadroom()])
    // Load since the previous sample: the allowed CPUs' busy time less this process's own.
    const times = cpuTimes(this.allowed)
    const total = times.total - this.lastTimes.total
    // The kernel counts in ticks (10 ms): too short an interval keeps the previous reading.
    if (total > 0) {
      const ownMs = cpuMs(process.cpuUsage(this.lastCpu))
      const busy = times.busy - this.lastTimes.busy
      this.othersCpuPercent = Math.min(100, Math.max(0, ((busy - ownMs) / total) * 100))
      this.lastCpu = process.cpuUsage()
      this.lastTimes = times
    }
    return {
      othersCpuPercent: this.othersCpuPercent,
      availableMemory: Math.min(mem.available, cgroup ?? Infinity),
      deviceIoBytes: this.device
        ? await deviceIoBytes(this.device.major, this.device.minor)
        : undefined,
    }
  }
}

function cpuMs(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1000
}
