// What the budget service measures (issue 4, "Budgets"): the I/O of the storage's own block
// device from /proc/diskstats, the memory headroom of a cgroup that systemd limits (v2 and v1, on
// fixture trees), and on this real machine the CPU load of others, available memory and the
// root's device counters — sampled without starting a process each time.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { cpus, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { spawnCount, systeminformationLoadedFirst } from './helpers/budget.js'

// The spawn count must be in place before systeminformation loads and keeps its own reference
// to execSync: the sampler is imported only once this module's static imports have run.
const { allowedCpus, cgroupHeadroom, cpuTimes, deviceIoBytes, SystemSampler } =
  await import('../src/budget/sampler.js')

const MiB = 1024 ** 2
let dir: string

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outpost-sampler-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** Write `files` (path → content) under a fresh directory; returns it. */
async function tree(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(dir, 'tree-'))
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true })
    await writeFile(join(root, path), content)
  }
  return root
}

describe('deviceIoBytes: one device in /proc/diskstats', () => {
  // major minor name, reads merged SECTORS-READ ms, writes merged SECTORS-WRITTEN ms, ...
  const DISKSTATS = [
    '   7       0 loop0 10313 16 74386 1303 32004 30380 181154 15882 0 10868 25693 0 0 0 0 0 0',
    ' 179       0 mmcblk0 5000 10 900000 800 7000 300 4400000 9000 0 5000 9800 0 0 0 0 0 0',
    ' 179       2 mmcblk0p2 4000 9 800000 700 6000 250 4000000 8000 0 4000 8700 0 0 0 0 0 0',
    ' 179      22 mmcblk0p22 1 0 8 0 1 0 8 0 0 0 0 0 0 0 0 0 0',
    ' 254       0 vda 27169 5599 1229994 3433 972415 96106 485787304 6023587 0 233048 6244504',
    '',
  ].join('\n')

  it('counts sectors read plus sectors written, times 512, of the right major:minor', async () => {
    const root = await tree({ diskstats: DISKSTATS })
    const file = join(root, 'diskstats')
    assert.equal(await deviceIoBytes(179, 2, file), (800_000 + 4_000_000) * 512)
    assert.equal(await deviceIoBytes(179, 0, file), (900_000 + 4_400_000) * 512)
    assert.equal(await deviceIoBytes(179, 22, file), 16 * 512)
    assert.equal(await deviceIoBytes(254, 0, file), (1_229_994 + 485_787_304) * 512)
  })

  it('is undefined for a device not listed, and without the file', async () => {
    const root = await tree({ diskstats: DISKSTATS })
    assert.equal(await deviceIoBytes(8, 0, join(root, 'diskstats')), undefined)
    assert.equal(await deviceIoBytes(0, 45, join(root, 'diskstats')), undefined)
    assert.equal(await deviceIoBytes(179, 2, join(root, 'missing')), undefined)
  })
})

describe('cgroupHeadroom: what systemd lets the unit use, which mem() cannot see', () => {
  const UNIT = '/system.slice/outpost.service'

  it('cgroup v2: memory.max less memory.current', async () => {
    const sys = await tree({
      [`${UNIT}/memory.max`]: '536870912\n',
      [`${UNIT}/memory.current`]: '209715200\n',
    })
    const proc = await tree({ cgroup: `0::${UNIT}\n` })
    assert.equal(await cgroupHeadroom(join(proc, 'cgroup'), sys), 536_870_912 - 209_715_200)
  })

  it('cgroup v2: page cache the kernel can drop (inactive_file) is not counted as used', async () => {
    // A unit that has read many blobs sits at its limit, mostly cache.
    const sys = await tree({
      [`${UNIT}/memory.max`]: '536870912\n',
      [`${UNIT}/memory.current`]: '536870912\n',
      [`${UNIT}/memory.stat`]:
        'anon 104857600\nfile 429391872\nactive_file 62914560\ninactive_file 366477312\n',
    })
    const proc = await tree({ cgroup: `0::${UNIT}\n` })
    assert.equal(await cgroupHeadroom(join(proc, 'cgroup'), sys), 366_477_312)
  })

  it('cgroup v2: "max" means no limit, and no headroom is reported', async () => {
    const sys = await tree({
      [`${UNIT}/memory.max`]: 'max\n',
      [`${UNIT}/memory.current`]: '209715200\n',
    })
    const proc = await tree({ cgroup: `0::${UNIT}\n` })
    assert.equal(await cgroupHeadroom(join(proc, 'cgroup'), sys), undefined)
  })

  it('cgroup v1: the memory controller line, limit_in_bytes less usage_in_bytes', async () => {
    const sys = await tree({
      [`memory${UNIT}/memory.limit_in_bytes`]: '268435456\n',
      [`memory${UNIT}/memory.usage_in_bytes`]: '200000000\n',
      [`memory${UNIT}/memory.stat`]:
        'cache 150000000\ninactive_file 1\ntotal_inactive_file 50000000\n',
      // the unified hierarchy of a hybrid setup is elsewhere: no v2 files at the root
    })
    const proc = await tree({
      cgroup: `12:pids:${UNIT}\n4:memory:${UNIT}\n1:name=systemd:${UNIT}\n0::${UNIT}\n`,
    })
    assert.equal(await cgroupHeadroom(join(proc, 'cgroup'), sys), 268_435_456 - 150_000_000)
  })

  it('cgroup v1: the near-2^63 "unlimited" value means no limit', async () => {
    const sys = await tree({
      [`memory${UNIT}/memory.limit_in_bytes`]: '9223372036854771712\n',
      [`memory${UNIT}/memory.usage_in_bytes`]: '200000000\n',
    })
    const proc = await tree({ cgroup: `4:memory:${UNIT}\n0::${UNIT}\n` })
    assert.equal(await cgroupHeadroom(join(proc, 'cgroup'), sys), undefined)
  })

  it('never below zero, and nothing without a cgroup file or without limit files', async () => {
    const over = await tree({
      [`${UNIT}/memory.max`]: '100\n',
      [`${UNIT}/memory.current`]: '150\n',
    })
    const proc = await tree({ cgroup: `0::${UNIT}\n` })
    assert.equal(await cgroupHeadroom(join(proc, 'cgroup'), over), 0)
    assert.equal(await cgroupHeadroom(join(proc, 'missing'), over), undefined)
    const onlyUsage = await tree({ [`${UNIT}/memory.current`]: '150\n' })
    assert.equal(await cgroupHeadroom(join(proc, 'cgroup'), onlyUsage), undefined)
  })
})

describe("others' CPU counts only the CPUs this process may run on", () => {
  const times = (busy: number, idle: number) => ({
    times: { user: busy, nice: 0, sys: 0, irq: 0, idle },
  })

  it('parses Cpus_allowed_list ranges and lists', () => {
    const status = (list: string) => `Name:\tnode\nCpus_allowed:\tf\nCpus_allowed_list:\t${list}\n`
    assert.deepEqual([...allowedCpus(status('0'))!], [0])
    assert.deepEqual([...allowedCpus(status('0-3'))!], [0, 1, 2, 3])
    assert.deepEqual([...allowedCpus(status('0,2-3,6'))!], [0, 2, 3, 6])
    assert.equal(allowedCpus('Name:\tnode\n'), undefined, 'no line: every CPU counts')
    assert.equal(allowedCpus(status('zero')), undefined, 'unreadable: every CPU counts')
  })

  it('sums the allowed CPUs only; all of them when none is listed', () => {
    const list = [times(100, 900), times(700, 300), times(50, 950)]
    assert.deepEqual(cpuTimes(undefined, list), { busy: 850, total: 3000 })
    assert.deepEqual(cpuTimes(new Set([0]), list), { busy: 100, total: 1000 })
    assert.deepEqual(cpuTimes(new Set([0, 2]), list), { busy: 150, total: 2000 })
    assert.deepEqual(cpuTimes(new Set([7]), list), { busy: 850, total: 3000 })
  })

  it('reads the affinity taskset gives a process', async (t) => {
    if (!existsSync('/usr/bin/taskset')) return t.skip('needs util-linux')
    const script = `import('${new URL('../src/budget/sampler.ts', import.meta.url).href}')
      .then(async ({ allowedCpus }) => {
        const status = await import('node:fs/promises').then((f) => f.readFile('/proc/self/status', 'utf8'))
        console.log(JSON.stringify([...allowedCpus(status)]))
      })`
    const child = spawn('taskset', ['-c', '0', process.execPath, '--import', 'tsx', '-e', script])
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d))
    const code = await new Promise((resolve) => child.on('exit', resolve))
    assert.equal(code, 0)
    assert.deepEqual(JSON.parse(out), [0])
  })
})

describe('SystemSampler on this machine', () => {
  it("reads others' CPU, available memory, and the root device's counters growing with a write", async (t) => {
    const sampler = await SystemSampler.forRoot(dir)
    const first = await sampler.sample()
    assert.ok(
      first.othersCpuPercent >= 0 && first.othersCpuPercent <= 100,
      `${first.othersCpuPercent}`,
    )
    assert.ok(first.availableMemory > 0 && Number.isFinite(first.availableMemory))
    if (first.deviceIoBytes === undefined) {
      // A filesystem without a block device of its own (overlay, tmpfs, btrfs subvolume): the
      // growth check cannot run, and the summary must count it as skipped, not passed.
      t.skip(`no block device under ${dir} (overlay or tmpfs): no /proc/diskstats line to watch`)
      return
    }
    assert.equal(typeof first.deviceIoBytes, 'number')
    const file = await open(join(dir, 'sixteen-mib'), 'w')
    try {
      await file.write(randomBytes(16 * MiB))
      await file.sync()
    } finally {
      await file.close()
    }
    const second = await sampler.sample()
    const grew = second.deviceIoBytes! - first.deviceIoBytes
    assert.ok(grew >= 16 * MiB, `the device's counters grew by ${grew} bytes`)
  })

  it('reports no device I/O for a root on tmpfs, which has no block device', async () => {
    const sampler = await SystemSampler.forRoot('/dev/shm')
    assert.equal((await sampler.sample()).deviceIoBytes, undefined)
  })

  it("counts another process's CPU as others' load", async () => {
    const sampler = await SystemSampler.forRoot(dir)
    const burner = spawn(process.execPath, [
      '-e',
      'const end = Date.now() + 1500; while (Date.now() < end);',
    ])
    const exited = new Promise((resolve) => burner.on('exit', resolve))
    await sampler.sample() // starts the interval with the burner running
    await exited
    const { othersCpuPercent } = await sampler.sample()
    // One core of the machine's, busy the whole interval.
    const oneCore = 100 / cpus().length
    assert.ok(othersCpuPercent >= oneCore * 0.6, `others ${othersCpuPercent}%`)
  })

  it("leaves this process's own CPU out of others' load", async () => {
    const sampler = await SystemSampler.forRoot(dir)
    const busyMs = () =>
      cpus().reduce((n, c) => n + c.times.user + c.times.nice + c.times.sys + c.times.irq, 0)
    const totalMs = () =>
      cpus().reduce(
        (n, c) => n + c.times.user + c.times.nice + c.times.sys + c.times.irq + c.times.idle,
        0,
      )
    await sampler.sample()
    const [busy0, total0] = [busyMs(), totalMs()]
    const end = Date.now() + 1500
    while (Date.now() < end); // this process burns a core
    const { othersCpuPercent } = await sampler.sample()
    const machine = ((busyMs() - busy0) / (totalMs() - total0)) * 100
    // Our share of the machine was at least a fraction of one core; it must not count.
    const oneCore = 100 / cpus().length
    assert.ok(
      machine - othersCpuPercent >= oneCore * 0.4,
      `machine ${machine}%, others ${othersCpuPercent}%`,
    )
  })

  it('starts no process to sample, and a sample is quick', async () => {
    assert.equal(systeminformationLoadedFirst, false, 'the spawn count was installed too late')
    // The count sees a child process started the way systeminformation starts its own.
    const control = spawnCount()
    createRequire(import.meta.url)('node:child_process').execSync('true')
    assert.equal(spawnCount(), control + 1)

    const sampler = await SystemSampler.forRoot(dir)
    await sampler.sample()
    const spawned = spawnCount()
    // Quick as in CPU this process spends, not wall time: on a busy machine a sample may wait for
    // a core, but what it costs the board is its own work (a few /proc and /sys reads).
    let cpuMicros = 0
    for (let i = 0; i < 20; i++) {
      // Spaced so that the CPU counters move between samples.
      await new Promise((resolve) => setTimeout(resolve, 100))
      const before = process.cpuUsage()
      await sampler.sample()
      const used = process.cpuUsage(before)
      cpuMicros += used.user + used.system
    }
    const perSample = cpuMicros / 20 / 1000
    assert.ok(perSample < 10, `a sample costs ${perSample.toFixed(2)} ms of CPU`)
    assert.equal(spawnCount() - spawned, 0, 'child processes started while sampling')
  })
})
