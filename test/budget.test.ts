// The budget service (issue 4, docs/architecture.md §5.9) on an injected sampler and a simulated
// clock: the I/O rate holds within ±10% over a simulated minute, work pauses while others' CPU
// load is above budget or available memory is below the floor and resumes after, nothing runs
// outside the maintenance window, a stop request ends any wait, and requests in flight slow the
// work down. No test sleeps for real: the clock's sleep advances simulated time at once.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Budget, inWindow, unlimitedBudget, type BudgetSettings } from '../src/budget/index.js'
import { HOUR, logLines, MINUTE, minutes, ScriptedSampler, SimClock } from './helpers/budget.js'
import type { Sample } from '../src/budget/index.js'

const KiB = 1024
const MB = 1e6
const SAFE: BudgetSettings = { cpuPercent: 50, minFreeMemory: 64 * MB, ioRate: 8 * MB }

interface Rig {
  clock: SimClock
  sampler: ScriptedSampler
  budget: Budget
  lines: ReturnType<typeof logLines>['lines']
}

function rig(
  settings: Partial<BudgetSettings> = {},
  options: {
    script?: (t: number) => Partial<Sample>
    startMinute?: number
    inFlight?: () => number
  } = {},
): Rig {
  const clock = new SimClock(options.startMinute)
  const sampler = new ScriptedSampler(clock, options.script)
  const { lines, log } = logLines()
  const budget = new Budget({
    settings: { ...SAFE, ...settings },
    sampler,
    clock,
    log,
    inFlight: options.inFlight,
  })
  return { clock, sampler, budget, lines }
}

/** Units of `unit` bytes until the simulated clock reaches `untilMs`; when each was granted. */
async function work(r: Rig, unit: number, untilMs: number): Promise<number[]> {
  const grants: number[] = []
  while (r.clock.now() < untilMs) {
    // A budget that never makes time pass would loop forever: fail instead.
    assert.ok(
      grants.length < 200_000,
      `no throttling: ${grants.length} units by ${r.clock.now()} ms`,
    )
    await r.budget.acquire(unit)
    grants.push(r.clock.now())
  }
  return grants
}

/** Bytes per second of `grants` units of `unit` bytes over the simulated time elapsed. */
function rateOf(r: Rig, grants: number[], unit: number): number {
  return (grants.length * unit) / (r.clock.now() / 1000)
}

function assertWithin(actual: number, expected: number, tolerance: number, what: string): void {
  const off = Math.abs(actual - expected) / expected
  assert.ok(off <= tolerance, `${what}: ${actual} is ${(off * 100).toFixed(1)}% off ${expected}`)
}

/** The most bytes granted within any `spanMs` of simulated time. */
function peakBytes(grants: number[], unit: number, spanMs: number): number {
  let peak = 0
  for (let lo = 0, hi = 0; hi < grants.length; hi++) {
    while (grants[hi] - grants[lo] >= spanMs) lo++
    peak = Math.max(peak, (hi - lo + 1) * unit)
  }
  return peak
}

describe('ioRate: a token bucket with a one-second burst', () => {
  for (const [rate, label] of [
    [8 * MB, '8MB/s'],
    [20 * MB, '20MB/s'],
  ] as const) {
    it(`holds ${label} within ±10% over a simulated minute of 64 KiB units`, async () => {
      const r = rig({ ioRate: rate })
      const grants = await work(r, 64 * KiB, MINUTE)
      assertWithin(rateOf(r, grants, 64 * KiB), rate, 0.1, 'bytes granted per second')
      assert.equal(r.budget.counters.bytes, grants.length * 64 * KiB)
      // Every 10 s after the first second's burst holds the rate on its own.
      for (let from = 1000; from + 10_000 <= MINUTE; from += 10_000) {
        const units = grants.filter((t) => t >= from && t < from + 10_000).length
        assertWithin((units * 64 * KiB) / 10, rate, 0.1, `${from}..${from + 10_000} ms`)
      }
      // Never more than the rate plus the one-second burst (and one unit) in any second.
      assert.ok(peakBytes(grants, 64 * KiB, 1000) <= 2 * rate + 64 * KiB)
      // The time went into waiting for tokens, not pauses.
      assertWithin(r.budget.counters.ioWaitMs, MINUTE - 1000, 0.05, 'ioWaitMs')
      assert.deepEqual(r.budget.counters.pausedMs, { cpu: 0, memory: 0, window: 0, io: 0 })
    })
  }

  it('holds the rate with units larger than the whole bucket', async () => {
    for (const [rate, unit] of [
      [8 * MB, 50 * MB],
      [20 * MB, 100 * 1024 * KiB],
    ]) {
      const r = rig({ ioRate: rate })
      const grants = await work(r, unit, MINUTE)
      assert.ok(grants.length >= 4, `${grants.length} units`)
      assertWithin(rateOf(r, grants, unit), rate, 0.1, `${unit}-byte units at ${rate} B/s`)
      // Each unit after the first waits for its whole size's worth of tokens.
      const gaps = grants.slice(1).map((t, i) => t - grants[i])
      for (const gap of gaps) assertWithin(gap, (unit / rate) * 1000, 0.001, 'gap between units')
    }
  })

  it('grants a burst of one second of tokens up front, and no more after an idle spell', async () => {
    const r = rig({ ioRate: 8 * MB })
    for (let i = 0; i < 8; i++) await r.budget.acquire(1 * MB)
    assert.equal(r.clock.now(), 0, 'the first 8 MB fit the one-second bucket')
    await r.budget.acquire(1 * MB)
    assert.equal(r.clock.now(), 125, 'the ninth waits 1 MB / 8 MB/s')
    await r.clock.sleep(10 * MINUTE) // idle: the bucket refills to one second, not ten minutes
    const start = r.clock.now()
    for (let i = 0; i < 16; i++) await r.budget.acquire(1 * MB)
    assert.equal(r.clock.now() - start, 1000)
  })

  it('samples the machine at most once per simulated second', async () => {
    const r = rig({ ioRate: 8 * MB })
    const grants = await work(r, 64 * KiB, MINUTE)
    assert.ok(grants.length > 7000)
    assert.ok(r.sampler.samples >= 59 && r.sampler.samples <= 61, `${r.sampler.samples} samples`)
  })
})

describe('pauses while the machine is busy', () => {
  it('waits while CPU load from others is above budget, and resumes once it drops', async () => {
    const r = rig(
      { cpuPercent: 50 },
      { script: (t) => ({ othersCpuPercent: t < 30_000 ? 90 : 10 }) },
    )
    await r.budget.acquire(0)
    assert.equal(r.clock.now(), 30_000, 'returned as soon as the load dropped')
    assert.equal(r.budget.counters.pausedMs.cpu, 30_000)
    assert.equal(r.budget.counters.throttles.cpu, 1)
    assert.deepEqual(r.lines, [
      ['background work paused', { reason: 'cpu' }],
      ['background work resumed', { after: 'cpu' }],
    ])
    await r.budget.acquire(0)
    assert.equal(r.clock.now(), 30_000, 'no pause once the load is under budget')
    assert.equal(r.lines.length, 2, 'one line when throttling starts, one when it stops')
  })

  it('stops running units during a CPU spike in the middle of work, and carries on after', async () => {
    const busy = (t: number) => t >= 20_000 && t < 35_000
    const r = rig({ cpuPercent: 50 }, { script: (t) => ({ othersCpuPercent: busy(t) ? 75 : 5 }) })
    const grants = await work(r, 1024 * KiB, MINUTE)
    // A sample is at most a second old, so the spike takes effect within a second.
    const during = grants.filter((t) => t >= 21_000 && t < 35_000)
    assert.deepEqual(during, [], 'no unit ran while others used the CPU')
    assert.ok(
      grants.some((t) => t >= 35_000 && t <= 36_000),
      'work resumed within a second',
    )
    const paused = r.budget.counters.pausedMs.cpu
    assert.ok(paused >= 14_000 && paused <= 16_000, `paused ${paused} ms`)
    assert.equal(r.budget.counters.throttles.cpu, 1)
    assert.deepEqual(
      r.lines.map(([msg]) => msg),
      ['background work paused', 'background work resumed'],
    )
    assert.deepEqual(r.lines[0][1], { reason: 'cpu' })
    // The rate held over the time the work was allowed to run (45 s, plus two bursts).
    assertWithin(grants.length * 1024 * KiB, 47 * 8 * MB, 0.1, 'bytes in the minute')
  })

  it('pauses while others keep the storage device busier than the whole ioRate', async () => {
    // Others read 30 MB/s from the device between 10 s and 25 s; background work is granted
    // its own bytes, which the device counter also sees and which must not count as others'.
    let ours = 0
    const othersBytes = (t: number) => Math.max(0, Math.min(t, 25_000) - 10_000) * 30_000
    const r = rig({ ioRate: 8 * MB }, { script: (t) => ({ deviceIoBytes: othersBytes(t) + ours }) })
    const grants: number[] = []
    while (r.clock.now() < 40_000) {
      await r.budget.acquire(512 * KiB)
      ours += 512 * KiB
      grants.push(r.clock.now())
    }
    const during = grants.filter((t) => t >= 12_000 && t < 25_000)
    assert.deepEqual(during, [], 'no unit while the device was busy with others')
    assert.ok(
      grants.some((t) => t >= 25_000 && t <= 28_000),
      'resumed once the device calmed',
    )
    assert.equal(r.budget.counters.throttles.io, 1)
    assert.deepEqual(r.lines[0], ['background work paused', { reason: 'io' }])
    // Its own I/O alone, at the full rate, never reads as others'.
    assert.ok(grants.filter((t) => t < 10_000).length > 100, 'ran at full rate before')
  })

  it('runs at exactly the budget: only a load above cpuPercent pauses', async () => {
    const r = rig({ cpuPercent: 50 }, { script: () => ({ othersCpuPercent: 50 }) })
    await r.budget.acquire(0)
    assert.equal(r.clock.now(), 0)
    assert.equal(r.lines.length, 0)
  })

  it('waits while available memory is below the floor, and resumes once it is back', async () => {
    const r = rig(
      { minFreeMemory: 64 * MB },
      { script: (t) => ({ availableMemory: t < 10_000 ? 32 * MB : 128 * MB }) },
    )
    await r.budget.acquire(1 * MB)
    assert.equal(r.clock.now(), 10_000)
    assert.equal(r.budget.counters.pausedMs.memory, 10_000)
    assert.equal(r.budget.counters.throttles.memory, 1)
    assert.equal(r.budget.counters.pausedMs.cpu, 0)
    assert.deepEqual(r.lines, [
      ['background work paused', { reason: 'memory' }],
      ['background work resumed', { after: 'memory' }],
    ])
    const exactly = rig(
      { minFreeMemory: 64 * MB },
      { script: () => ({ availableMemory: 64 * MB }) },
    )
    await exactly.budget.acquire(0)
    assert.equal(exactly.clock.now(), 0, 'the floor itself is enough')
  })

  it('names each reason as it changes and counts each throttling once', async () => {
    const script = (t: number) =>
      t < 5000 ? { othersCpuPercent: 90 } : t < 8000 ? { availableMemory: 1 * MB } : {}
    const r = rig({}, { script })
    await r.budget.acquire(0)
    assert.equal(r.clock.now(), 8000)
    assert.deepEqual(r.budget.counters.pausedMs, { cpu: 5000, memory: 3000, window: 0, io: 0 })
    assert.deepEqual(r.budget.counters.throttles, { cpu: 1, memory: 1, window: 0, io: 0 })
    assert.deepEqual(r.lines, [
      ['background work paused', { reason: 'cpu' }],
      ['background work paused', { reason: 'memory' }],
      ['background work resumed', { after: 'memory' }],
    ])
  })
})

describe('the maintenance window', () => {
  it('inWindow: [start, end) minutes, wrapping midnight when start > end', () => {
    const night = { start: minutes('01:00'), end: minutes('05:00') }
    const cases: Array<[string, boolean]> = [
      ['00:59', false],
      ['01:00', true],
      ['03:00', true],
      ['04:59', true],
      ['05:00', false],
      ['12:00', false],
      ['23:59', false],
    ]
    for (const [at, expected] of cases) assert.equal(inWindow(minutes(at), night), expected, at)
    const wrapping = { start: minutes('22:00'), end: minutes('02:00') }
    const wrapCases: Array<[string, boolean]> = [
      ['21:59', false],
      ['22:00', true],
      ['23:59', true],
      ['00:00', true],
      ['01:59', true],
      ['02:00', false],
      ['12:00', false],
    ]
    for (const [at, expected] of wrapCases)
      assert.equal(inWindow(minutes(at), wrapping), expected, at)
    // A window that starts where it ends spans the whole day.
    for (const at of ['00:00', '03:00', '23:59'])
      assert.equal(inWindow(minutes(at), { start: 180, end: 180 }), true, at)
  })

  it('01:00-05:00: a unit asked for at 00:30 is granted at 01:00, not before', async () => {
    const window = { start: minutes('01:00'), end: minutes('05:00') }
    const r = rig({ window }, { startMinute: minutes('00:30') })
    await r.budget.acquire(64 * KiB)
    assert.equal(r.clock.now(), 30 * MINUTE)
    assert.equal(r.clock.minuteOfDay(), minutes('01:00'))
    assert.equal(r.budget.counters.pausedMs.window, 30 * MINUTE)
    assert.equal(r.budget.counters.throttles.window, 1)
    assert.deepEqual(r.lines, [
      ['background work paused', { reason: 'window' }],
      ['background work resumed', { after: 'window' }],
    ])
    assert.equal(r.sampler.samples, 1, 'the machine is not sampled while the window is closed')
  })

  it('01:00-05:00: work running at 04:58 stops at 05:00 and goes on at 01:00 the next day', async () => {
    const window = { start: minutes('01:00'), end: minutes('05:00') }
    const r = rig({ window, ioRate: 8 * MB }, { startMinute: minutes('04:58') })
    const grants = await work(r, 8 * MB, 20 * HOUR + 4 * MINUTE)
    const at = (t: number) => Math.floor(minutes('04:58') + t / MINUTE) % 1440
    for (const t of grants) assert.ok(inWindow(at(t), window), `a unit ran at minute ${at(t)}`)
    const before = grants.filter((t) => t < 2 * MINUTE).length
    const after = grants.filter((t) => t >= 2 * MINUTE).length
    assert.ok(before >= 119 && before <= 121, `${before} one-second units from 04:58 to 05:00`)
    assert.ok(after >= 119, `${after} units after 01:00`)
    assert.equal(
      grants.find((t) => t >= 2 * MINUTE),
      20 * HOUR + 2 * MINUTE,
    )
    assert.equal(r.budget.counters.pausedMs.window, 20 * HOUR)
  })

  it('22:00-02:00 wraps midnight: waits at 21:00, runs through 00:00, stops at 02:00', async () => {
    const window = { start: minutes('22:00'), end: minutes('02:00') }
    const evening = rig({ window }, { startMinute: minutes('21:00') })
    await evening.budget.acquire(0)
    assert.equal(evening.clock.now(), HOUR)

    const midnight = rig({ window }, { startMinute: minutes('23:58') })
    const grants = await work(midnight, 1 * MB, 4 * MINUTE)
    assert.equal(midnight.budget.counters.pausedMs.window, 0, 'no pause across midnight')
    assert.ok(grants.length > 1800)

    const late = rig({ window }, { startMinute: minutes('01:59') })
    await late.budget.acquire(0)
    assert.equal(late.clock.now(), 0, '01:59 is inside')
    await late.clock.sleep(MINUTE)
    await late.budget.acquire(0)
    assert.equal(late.clock.minuteOfDay(), minutes('22:00'), '02:00 waits for 22:00')
    assert.equal(late.budget.counters.pausedMs.window, 20 * HOUR)
  })
})

describe('stopping', () => {
  it('a stop request ends a CPU pause within one pause step', async () => {
    const r = rig({}, { script: () => ({ othersCpuPercent: 100 }) })
    await r.budget.acquire(1 * MB, () => r.clock.now() >= 5000)
    assert.ok(r.clock.now() >= 5000 && r.clock.now() <= 6000, `returned at ${r.clock.now()} ms`)
    assert.equal(r.budget.counters.bytes, 0, 'a stopped unit is not granted')
  })

  it('a stop request ends a wait for the window within one pause step', async () => {
    const window = { start: minutes('01:00'), end: minutes('05:00') }
    const r = rig({ window }, { startMinute: minutes('12:00') })
    await r.budget.acquire(0, () => r.clock.now() >= 10 * MINUTE)
    assert.ok(r.clock.now() >= 10 * MINUTE && r.clock.now() <= 10 * MINUTE + 1000)
  })

  it('a stop request ends a wait for I/O tokens within one pause step', async () => {
    const r = rig({ ioRate: 8 * MB })
    // 80 MB at 8 MB/s: 9 s of debt beyond the one-second bucket.
    await r.budget.acquire(80 * MB, () => r.clock.now() >= 2000)
    assert.ok(r.clock.now() >= 2000 && r.clock.now() <= 3000, `returned at ${r.clock.now()} ms`)
  })

  it('a unit asked for after the stop returns at once without sampling', async () => {
    const r = rig({}, { script: () => ({ othersCpuPercent: 100 }) })
    await r.budget.acquire(1 * MB, () => true)
    assert.equal(r.clock.now(), 0)
    assert.equal(r.sampler.samples, 0)
    assert.equal(r.lines.length, 0)
  })
})

describe('foreground first', () => {
  it('yields 5 ms per unit while requests are in flight, and nothing when there are none', async () => {
    let inFlight = 0
    const r = rig({ ioRate: Infinity }, { inFlight: () => inFlight })
    for (let i = 0; i < 1000; i++) await r.budget.acquire(0)
    assert.equal(r.clock.now(), 0, 'idle registry: no yield')
    inFlight = 2
    const units = await work(r, 0, 1000)
    assert.equal(units.length, 200, 'at most 200 units a second while requests are served')
    inFlight = 0
    await r.budget.acquire(0)
    assert.equal(r.clock.now(), 1000)
  })

  it('gives background work at most a fifth of the time while requests are in flight', async () => {
    const r = rig({ ioRate: Infinity }, { inFlight: () => 1 })
    let worked = 0
    while (r.clock.now() < 60_000) {
      await r.budget.acquire(0)
      // Each unit runs 40 ms (hashing a megabyte on a small board).
      await r.clock.sleep(40)
      worked += 40
    }
    const share = worked / r.clock.now()
    assert.ok(
      share <= 0.21 && share >= 0.18,
      `background ran ${(share * 100).toFixed(1)}% of the time`,
    )
  })

  it('does not count the idle gap between two passes as a unit', async () => {
    const r = rig({ ioRate: Infinity }, { inFlight: () => 1 })
    await r.budget.acquire(0)
    await r.clock.sleep(3_600_000) // an hour until the next pass
    const before = r.clock.now()
    await r.budget.acquire(0)
    assert.ok(r.clock.now() - before <= 1000, `waited ${r.clock.now() - before} ms`)
  })

  it('keeps ioRate while yielding', async () => {
    const r = rig({ ioRate: 8 * MB }, { inFlight: () => 1 })
    const grants = await work(r, 64 * KiB, MINUTE)
    assert.ok(rateOf(r, grants, 64 * KiB) <= 8 * MB * 1.1)
  })
})

describe('unlimitedBudget', () => {
  it('never waits and never pauses', async () => {
    const budget = unlimitedBudget()
    const began = performance.now()
    for (let i = 0; i < 10_000; i++) await budget.acquire(1024 ** 3)
    const ms = performance.now() - began
    assert.ok(ms < 1000, `10,000 units of 1 GiB took ${ms.toFixed(0)} ms`)
    assert.equal(budget.counters.bytes, 10_000 * 1024 ** 3)
    assert.equal(budget.counters.ioWaitMs, 0)
    assert.deepEqual(budget.counters.pausedMs, { cpu: 0, memory: 0, window: 0, io: 0 })
    assert.deepEqual(budget.counters.throttles, { cpu: 0, memory: 0, window: 0, io: 0 })
  })
})
