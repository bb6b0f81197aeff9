// The small board of `npm run bench -- --edge` (issue 17): a memory limit and one CPU for the
// server, and a loop-mounted ext4 standing in for its SD card. The limit is a cgroup: v2 where
// /sys/fs/cgroup (or its unified mount) delegates the memory and cpuset controllers (memory.max,
// memory.peak, memory.events), else v1's memory and cpuset hierarchies (memory.limit_in_bytes,
// memory.max_usage_in_bytes, memory.oom_control), else none: the server then runs under
// `taskset -c 0` with only its V8 heap cap, and the bench says so. Needs root; everything made
// here is undone by `close()` (and a crash leaves only an empty cgroup and a detached loop file).
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'

export interface Limits {
  /** how the limits are applied, for the report */
  kind: 'cgroup v2' | 'cgroup v1' | 'taskset only'
  /** a command prefix that starts its arguments inside the limits */
  wrapper: string[]
  /** the cgroup's peak memory (page cache included) since the last reset; undefined without one */
  peakBytes(): number | undefined
  resetPeak(): void
  /** OOM kills inside the cgroup so far */
  oomKills(): number | undefined
  close(): void
}

const V2_ROOTS = ['/sys/fs/cgroup', '/sys/fs/cgroup/unified']

function read(path: string): string {
  return readFileSync(path, 'utf8').trim()
}

function v2Root(): string | undefined {
  for (const root of V2_ROOTS) {
    const controllers = join(root, 'cgroup.controllers')
    if (!existsSync(controllers)) continue
    const list = read(controllers).split(/\s+/)
    if (list.includes('memory') && list.includes('cpuset')) return root
  }
  return undefined
}

function enter(procsFiles: string[]): string[] {
  // The shell moves itself into the cgroup(s), then execs the server: it starts inside.
  const moves = procsFiles.map((f) => `echo $$ > ${f}`).join(' && ')
  return ['sh', '-c', `${moves} && exec "$@"`, 'sh']
}

function cgroupV2(root: string, name: string, memoryMax: number, cpu: number): Limits {
  const dir = join(root, name)
  writeFileSync(join(root, 'cgroup.subtree_control'), '+memory +cpuset')
  mkdirSync(dir)
  writeFileSync(join(dir, 'memory.max'), String(memoryMax))
  writeFileSync(join(dir, 'memory.swap.max'), '0')
  writeFileSync(join(dir, 'cpuset.cpus'), String(cpu))
  const events = () => Number(/^oom_kill (\d+)/m.exec(read(join(dir, 'memory.events')))?.[1] ?? 0)
  return {
    kind: 'cgroup v2',
    wrapper: enter([join(dir, 'cgroup.procs')]),
    peakBytes: () => Number(read(join(dir, 'memory.peak'))),
    resetPeak: () => writeFileSync(join(dir, 'memory.peak'), 'reset'),
    oomKills: events,
    close: () => rmdirSync(dir),
  }
}

function cgroupV1(name: string, memoryMax: number, cpu: number): Limits {
  const memory = join('/sys/fs/cgroup/memory', name)
  const cpuset = join('/sys/fs/cgroup/cpuset', name)
  mkdirSync(memory)
  mkdirSync(cpuset)
  writeFileSync(join(memory, 'memory.limit_in_bytes'), String(memoryMax))
  writeFileSync(join(cpuset, 'cpuset.cpus'), String(cpu))
  writeFileSync(join(cpuset, 'cpuset.mems'), read('/sys/fs/cgroup/cpuset/cpuset.mems'))
  return {
    kind: 'cgroup v1',
    wrapper: enter([join(memory, 'cgroup.procs'), join(cpuset, 'cgroup.procs')]),
    peakBytes: () => Number(read(join(memory, 'memory.max_usage_in_bytes'))),
    resetPeak: () => writeFileSync(join(memory, 'memory.max_usage_in_bytes'), '0'),
    oomKills: () =>
      Number(/^oom_kill (\d+)/m.exec(read(join(memory, 'memory.oom_control')))?.[1] ?? 0),
    close: () => {
      rmdirSync(memory)
      rmdirSync(cpuset)
    },
  }
}

/** Limits for the server: `memoryMax` bytes and CPU `cpu`, the best way this machine offers. */
export function boardLimits(memoryMax: number, cpu: number): Limits {
  const name = `outpost-bench-edge-${process.pid}`
  const root = v2Root()
  if (root) return cgroupV2(root, name, memoryMax, cpu)
  console.log(
    'cgroup v2 does not delegate memory and cpuset here ' +
      `(${V2_ROOTS.map((r) => join(r, 'cgroup.controllers')).join(', ')})`,
  )
  if (
    existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes') &&
    existsSync('/sys/fs/cgroup/cpuset/cpuset.cpus')
  ) {
    try {
      return cgroupV1(name, memoryMax, cpu)
    } catch (err) {
      console.log(`cgroup v1 is not writable either (${(err as Error).message})`)
    }
  }
  console.log(`falling back to taskset -c ${cpu} and the V8 heap cap alone: no memory limit`)
  return {
    kind: 'taskset only',
    wrapper: ['taskset', '-c', String(cpu)],
    peakBytes: () => undefined,
    resetPeak: () => {},
    oomKills: () => undefined,
    close: () => {},
  }
}

export interface LoopDisk {
  /** the mounted filesystem */
  mount: string
  /** e.g. loop3 */
  device: string
  /** bytes written to the device so far (/sys/block/<dev>/stat, sectors written × 512) */
  writtenBytes(): number
  close(): void
}

/** An ext4 filesystem of `mib` MiB in a sparse file, loop-mounted (the board's SD card). */
export function loopDisk(mib: number): LoopDisk {
  const base = join(tmpdir(), `outpost-bench-edge-${process.pid}`)
  const image = `${base}.img`
  const mount = `${base}.mnt`
  execFileSync('truncate', ['-s', `${mib}M`, image])
  execFileSync('mkfs.ext4', ['-q', '-F', image])
  const path = execFileSync('losetup', ['-f', '--show', image], { encoding: 'utf8' }).trim()
  mkdirSync(mount, { recursive: true })
  execFileSync('mount', [path, mount])
  const device = basename(path)
  return {
    mount,
    device,
    writtenBytes() {
      // stat(5) of a block device: field 7 is sectors written, always in 512-byte units.
      execFileSync('sync', ['-f', mount])
      return Number(read(`/sys/block/${device}/stat`).split(/\s+/)[6]) * 512
    },
    close() {
      execFileSync('umount', [mount])
      execFileSync('losetup', ['-d', path])
      rmSync(image, { force: true })
      rmSync(mount, { recursive: true, force: true })
    },
  }
}
