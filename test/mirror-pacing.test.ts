// The mirror's pacer (issue 15): a real transfer through a local socket never runs more than 10%
// over extensions.sync.maxBandwidth (upper bound only: a busy machine is only slower), alone or
// shared by two streams, nor after an idle spell filled the bucket; nothing is granted outside
// extensions.sync.window, with or without wrapping midnight, and a grant whose bandwidth wait
// runs past the window's end waits for the next window; the maintenance budget's CPU and memory
// limits pause it, its ioRate does not; a stop request ends any wait. The window is driven with a
// simulated clock, not sleeps.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, connect, type AddressInfo } from 'node:net'
import { describe, it } from 'node:test'
import { HOUR, MINUTE, minutes, ScriptedSampler, SimClock } from './helpers/budget.js'
import { MirrorPacer, type MirrorPacerOptions } from '../src/upstream/mirror/pacing.js'
import type { Sample } from '../src/budget/index.js'

const MB = 1e6
const CHUNK = 64 * 1024
const idle = {
  sample: async (): Promise<Sample> => ({ othersCpuPercent: 0, availableMemory: 1e12 }),
}
const LIMITS = { cpuPercent: 50, minFreeMemory: 64 * MB }

/**
 * Streams `total` bytes through `pacer` to a local socket in CHUNK-sized takes; the bytes per
 * second the receiver saw, from the first take to the last byte received.
 */
async function transfer(pacers: MirrorPacer[], total: number): Promise<number> {
  let received = 0
  const want = total * pacers.length
  let done!: () => void
  const all = new Promise<void>((resolve) => (done = resolve))
  const server = createServer((socket) => {
    socket.on('data', (b: Buffer) => {
      received += b.length
      if (received >= want) done()
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  const chunk = Buffer.alloc(CHUNK, 7)
  const started = performance.now()
  try {
    await Promise.all(
      pacers.map(async (pacer) => {
        const socket = connect(port, '127.0.0.1')
        await once(socket, 'connect')
        for (let sent = 0; sent < total;) {
          const n = Math.min(CHUNK, total - sent)
          await pacer.take(n)
          if (!socket.write(chunk.subarray(0, n))) await once(socket, 'drain')
          sent += n
        }
        socket.end()
      }),
    )
    await all
    return (want / (performance.now() - started)) * 1000
  } finally {
    server.close()
  }
}

function simPacer(
  options: Partial<MirrorPacerOptions> & { startMinute?: number },
  script?: (t: number) => Partial<Sample>,
) {
  const clock = new SimClock(options.startMinute ?? 0)
  const sampler = new ScriptedSampler(clock, script)
  const pacer = new MirrorPacer({ ...LIMITS, sampler, clock, ...options })
  return { clock, sampler, pacer }
}

describe('mirror pacer: bandwidth', () => {
  it('a 3 MB transfer at 2 MB/s through a socket stays within +10% of the cap', async () => {
    const cap = 2 * MB
    const pacer = new MirrorPacer({ ...LIMITS, sampler: idle, maxBandwidth: cap })
    const rate = await transfer([pacer], 3 * MB)
    console.log(`# ${(rate / MB).toFixed(3)} MB/s at a cap of ${cap / MB} MB/s`)
    assert.ok(rate <= cap * 1.1, `${rate} B/s exceeds ${cap} B/s by more than 10%`)
    assert.equal(pacer.counters.bytes, 3 * MB)
  })

  it('two streams share the one cap', async () => {
    const cap = 2 * MB
    const pacer = new MirrorPacer({ ...LIMITS, sampler: idle, maxBandwidth: cap })
    const rate = await transfer([pacer, pacer], 1.5 * MB)
    console.log(`# ${(rate / MB).toFixed(3)} MB/s for two streams at a cap of ${cap / MB} MB/s`)
    assert.ok(rate <= cap * 1.1, `${rate} B/s exceeds ${cap} B/s by more than 10%`)
  })

  it('an idle hour does not buy a burst: one second of transfer after it stays within +10%', async () => {
    const cap = 1 * MB
    const { clock, pacer } = simPacer({ maxBandwidth: cap })
    await pacer.take(CHUNK)
    await clock.sleep(HOUR)
    const start = clock.now()
    for (let sent = 0; sent < cap; sent += CHUNK) await pacer.take(CHUNK)
    const bytes = Math.ceil(cap / CHUNK) * CHUNK
    const rate = (bytes / (clock.now() - start)) * 1000
    assert.ok(rate <= cap * 1.1, `${rate} B/s after an idle hour exceeds ${cap} B/s by >10%`)
  })

  it('without maxBandwidth nothing waits', async () => {
    const { clock, pacer } = simPacer({})
    for (let i = 0; i < 1000; i++) await pacer.take(MB)
    assert.equal(clock.now(), 0)
  })
})

/** Takes of `unit` bytes until simulated `untilMs`; the minute of the day of each grant. */
async function grants(rig: ReturnType<typeof simPacer>, unit: number, untilMs: number) {
  const at: number[] = []
  while (rig.clock.now() < untilMs) {
    assert.ok(at.length < 500_000, 'no time passes: the pacer never waits')
    await rig.pacer.take(unit)
    at.push(rig.clock.minuteOfDay())
  }
  return at
}

describe('mirror pacer: window', () => {
  it('grants nothing outside 01:00-05:00 and grants again when it opens the next day', async () => {
    const window = { start: minutes('01:00'), end: minutes('05:00') }
    const rig = simPacer({ window, maxBandwidth: 1 * MB })
    const at = await grants(rig, 1 * MB, 30 * HOUR)
    const outside = at.filter((m) => m < window.start || m >= window.end)
    assert.deepEqual(outside, [], 'bytes granted outside the window')
    assert.equal(at[0], window.start, 'the first grant comes when the window opens')
    // Granted through both days' windows: about four hours of one-second takes each.
    assert.ok(at.length > 2 * 4 * 3600 * 0.9, `only ${at.length} grants in two windows`)
    assert.ok(rig.pacer.counters.windowWaitMs >= 20 * HOUR)
  })

  it('a window wrapping midnight (23:00-01:00) grants on both sides of midnight only', async () => {
    const window = { start: minutes('23:00'), end: minutes('01:00') }
    const rig = simPacer({ window, maxBandwidth: 1 * MB, startMinute: minutes('12:00') })
    const at = await grants(rig, 1 * MB, 20 * HOUR)
    assert.deepEqual(
      at.filter((m) => m >= window.end && m < window.start),
      [],
      'bytes granted outside the window',
    )
    assert.ok(at.some((m) => m >= minutes('23:00')))
    assert.ok(at.some((m) => m < minutes('01:00')))
    assert.equal(at[0], window.start)
  })

  it('a grant whose bandwidth wait runs past the window end waits for the next window', async () => {
    const window = { start: minutes('01:00'), end: minutes('01:01') }
    const rig = simPacer({ window, maxBandwidth: 1000, startMinute: minutes('01:00') })
    await rig.pacer.take(120_000) // two minutes' worth at 1000 B/s
    assert.equal(rig.clock.minuteOfDay(), window.start)
    assert.ok(rig.clock.now() >= 23 * HOUR, `granted after ${rig.clock.now()} ms`)
  })

  it('says whether the window is open and for how many more minutes', () => {
    const window = { start: minutes('01:00'), end: minutes('05:00') }
    assert.deepEqual(simPacer({ window, startMinute: minutes('00:30') }).pacer.window(), {
      open: false,
      minutes: 30,
    })
    assert.deepEqual(simPacer({ window, startMinute: minutes('04:00') }).pacer.window(), {
      open: true,
      minutes: 60,
    })
    assert.deepEqual(simPacer({}).pacer.window(), { open: true })
  })
})

describe('mirror pacer: budget and stop', () => {
  it('pauses while memory is below the floor or CPU is above budget, then goes on', async () => {
    const rig = simPacer({}, (t) =>
      t < 10 * MINUTE
        ? { availableMemory: 1 * MB }
        : t < 20 * MINUTE
          ? { othersCpuPercent: 95 }
          : {},
    )
    await rig.pacer.take(MB)
    assert.ok(rig.clock.now() >= 20 * MINUTE, `granted at ${rig.clock.now()} ms`)
  })

  it("the maintenance ioRate does not apply: others' heavy disk I/O does not pause it", async () => {
    const rig = simPacer({}, (t) => ({ deviceIoBytes: t * 1e9 }))
    for (let i = 0; i < 50; i++) await rig.pacer.take(MB)
    assert.ok(rig.clock.now() < 5 * MINUTE, `paused for ${rig.clock.now()} ms`)
  })

  it('yields to requests in flight', async () => {
    const rig = simPacer({ inFlight: () => 1 })
    await rig.pacer.take(1)
    assert.ok(rig.clock.sleeps.length > 0, 'did not yield to a request in flight')
  })

  it('a stop request ends a wait for the window', async () => {
    const window = { start: minutes('01:00'), end: minutes('05:00') }
    const rig = simPacer({ window, startMinute: minutes('06:00') })
    const controller = new AbortController()
    const taking = rig.pacer.take(1, controller.signal)
    controller.abort(new Error('stopped'))
    await assert.rejects(taking, /stopped/)
    assert.ok(rig.clock.now() < HOUR)
  })
})
