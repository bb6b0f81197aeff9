// What the budget service measures (issue: "Budgets"): CPU load caused by others, memory
// available to us (the machine's, and the cgroup's when systemd limits the unit, which
// systeminformation's mem() cannot see), and the I/O of the one block device holding the storage
// root (its own line in /proc/diskstats, not machine-wide totals). Sampling reads /proc and /sys;
// it spawns no process.
import { readFile, stat } from 'node:fs/promises'
import si from 'systeminformation'

export interface Sample {
  /** percent of all CPUs busy with work other than this process */
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

/** The cgroup's memory headroom (limit - usage) for cgroup v2 or v1, when a limit is set. */
export async function cgroupHeadroom(
  procCgroup = '/proc/self/cgroup',
  root = '/sys/fs/cgroup',
): Promise<number | undefined> {
  const text = await readFile(procCgroup, 'utf8').catch(() => '')
  const read = async (path: string) => (await readFile(path, 'utf8').catch(() => '')).trim()
  for (const line of text.split('\n')) {
    const [, controllers, path] = line.split(':')
    if (path === undefined) continue
    let usage: string
    let limit: string
    if (controllers === '') {
      usage = await read(`${root}${path}/memory.current`)
      limit = await read(`${root}${path}/memory.max`)
    } else if (controllers.split(',').includes('memory')) {
      usage = await read(`${root}/memory${path}/memory.usage_in_bytes`)
      limit = await read(`${root}/memory${path}/memory.limit_in_bytes`)
    } else continue
    const max = Number(limit)
    // "max" (v2) or a near-2^63 value (v1) means no limit.
    if (!usage || !Number.isFinite(max) || max >= 2 ** 60) continue
    return Math.max(0, max - Number(usage))
  }
  return undefined
}

/** Samples the real machine through systeminformation and /proc. */
export class SystemSampler implements Sampler {
  private lastCpu = process.cpuUsage()
  private lastAt = performance.now()
  private device?: { major: number; minor: number }

  private constructor() {}

  /** `root` is the storage directory: its device is the one whose I/O is budgeted. */
  static async forRoot(root: string): Promise<SystemSampler> {
    const sampler = new SystemSampler()
    const info = await stat(root).catch(() => null)
    if (info)
      sampler.device = {
        major: Math.floor(info.dev / 256) & 0xfff,
        minor: (info.dev & 0xff) | ((info.dev >> 12) & 0xfff00),
      }
    // The first reading only starts the measurement (and takes half a second): not awaited, so
    // it does not hold up startup.
    si.currentLoad().catch(() => {})
    return sampler
  }

  async sample(): Promise<Sample> {
    const [load, mem, cgroup] = await Promise.all([si.currentLoad(), si.mem(), cgroupHeadroom()])
    const now = performance.now()
    const cpu = process.cpuUsage(this.lastCpu)
    const elapsedUs = (now - this.lastAt) * 1000
    this.lastCpu = process.cpuUsage()
    this.lastAt = now
    const cores = Math.max(1, load.cpus.length)
    const ownPercent = elapsedUs > 0 ? ((cpu.user + cpu.system) / elapsedUs / cores) * 100 : 0
    const availableMemory = Math.min(mem.available, cgroup ?? Infinity)
    return {
      othersCpuPercent: Math.max(0, load.currentLoad - ownPercent),
      availableMemory,
      deviceIoBytes: this.device
        ? await deviceIoBytes(this.device.major, this.device.minor)
        : undefined,
    }
  }
}
