// When GC runs: each row of the seed's table (zot storage guide, "Configuring garbage
// collection"), from the config file through resolveStorageSettings to scheduleGc, with timers the
// test fires by hand; then the server wiring, with real (tiny) timers.
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { resolveStorageSettings } from '../src/config/index.js'
import { scheduleGc, type Timers } from '../src/gc/index.js'
import { blobStatus, collectorFor, HOUR, MINUTE, pullWhole } from './helpers/gc.js'
import { pushBlob } from './helpers/api.js'
import {
  inMemoryRegistry,
  makeImage,
  pushImage,
  removeDir,
  socketServer,
  tempDir,
} from './helpers/harness.js'

interface Pending {
  fn: () => void
  ms: number
  cleared: boolean
}

/** Timers that only record: the test fires them, so no time passes and nothing sleeps. */
class FakeTimers implements Timers {
  readonly all: Pending[] = []

  setTimeout(fn: () => void, ms: number): unknown {
    const timer = { fn, ms, cleared: false }
    this.all.push(timer)
    return timer
  }
  clearTimeout(handle: unknown): void {
    ;(handle as Pending).cleared = true
  }
  /** The delays of the timers still waiting to fire. */
  pending(): number[] {
    return this.all.filter((t) => !t.cleared).map((t) => t.ms)
  }
  /** Fire the one waiting timer, and let the pass it starts finish. */
  async fire(): Promise<void> {
    const waiting = this.all.filter((t) => !t.cleared)
    assert.equal(waiting.length, 1, 'exactly one timer is waiting')
    waiting[0].cleared = true // a fired timer is spent
    waiting[0].fn()
    await settle()
  }
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve))

/** A schedule for a config file's storage keys, with a pass that only counts. */
function schedule(storage: Record<string, unknown>) {
  const settings = resolveStorageSettings({ rootDirectory: '/unused', ...storage })
  const timers = new FakeTimers()
  let passes = 0
  const stop = scheduleGc(settings.gc, async () => void passes++, timers)
  return { timers, stop, passes: () => passes, settings }
}

describe('gc schedule: the seed table', () => {
  it('gc: false -> no pass ever', async () => {
    const s = schedule({ gc: false, gcInterval: '1m', gcDelay: '1m' })
    assert.equal(s.settings.gc.enabled, false)
    assert.deepEqual(s.timers.all, [], 'not even a timer is set')
    await s.stop()
    assert.equal(s.passes(), 0)
  })

  for (const [row, storage] of [
    ['gc omitted', {}],
    ['gc: true, gcInterval omitted', { gc: true }],
  ] as const) {
    it(`${row} -> first pass after the 1h gcDelay default, then every 1h`, async () => {
      const s = schedule(storage)
      assert.deepEqual(s.timers.pending(), [HOUR])
      assert.equal(s.passes(), 0, 'nothing runs before gcDelay')
      for (let n = 1; n <= 3; n++) {
        await s.timers.fire()
        assert.equal(s.passes(), n)
        assert.deepEqual(s.timers.pending(), [HOUR])
      }
      await s.stop()
    })
  }

  it('gcInterval "0" -> exactly one pass, after gcDelay', async () => {
    const s = schedule({ gc: true, gcInterval: '0', gcDelay: '2h' })
    assert.deepEqual(s.timers.pending(), [2 * HOUR])
    await s.timers.fire()
    assert.equal(s.passes(), 1)
    assert.deepEqual(s.timers.pending(), [], 'no further pass is scheduled')
    await settle()
    assert.equal(s.passes(), 1)
    await s.stop()
  })

  it('gcInterval "30m" -> every 30m after the first pass at gcDelay', async () => {
    const s = schedule({ gc: true, gcInterval: '30m' })
    assert.deepEqual(s.timers.pending(), [HOUR])
    await s.timers.fire()
    assert.deepEqual(s.timers.pending(), [30 * MINUTE])
    await s.timers.fire()
    assert.deepEqual(s.timers.pending(), [30 * MINUTE])
    assert.equal(s.passes(), 2)
    await s.stop()
  })

  it('gcDelay "10m" is when the first pass runs', async () => {
    const s = schedule({ gcDelay: '10m' })
    assert.equal(s.settings.gc.delayMs, 10 * MINUTE)
    assert.deepEqual(s.timers.pending(), [10 * MINUTE])
    await s.timers.fire()
    assert.equal(s.passes(), 1)
    assert.deepEqual(s.timers.pending(), [HOUR])
    await s.stop()
  })

  it('stop() cancels the pending timer', async () => {
    const s = schedule({ gcInterval: '5m' })
    await s.timers.fire()
    assert.deepEqual(s.timers.pending(), [5 * MINUTE])
    await s.stop()
    assert.deepEqual(s.timers.pending(), [])
    assert.equal(s.passes(), 1)
  })

  it('stop() during a pass waits for it and schedules nothing after it', async () => {
    const timers = new FakeTimers()
    let release!: () => void
    let finished = false
    const stop = scheduleGc(
      resolveStorageSettings({ rootDirectory: '/unused' }).gc,
      () => new Promise<void>((resolve) => (release = resolve)).then(() => void (finished = true)),
      timers,
    )
    await timers.fire() // the pass starts and hangs
    let stopped = false
    const stopping = stop().then(() => (stopped = true))
    await settle()
    assert.equal(stopped, false, 'stop waits for the pass in progress')
    release()
    await stopping
    assert.equal(finished, true)
    assert.deepEqual(timers.pending(), [])
  })

  it('a failing pass does not end the schedule', async () => {
    const timers = new FakeTimers()
    let calls = 0
    const stop = scheduleGc(
      resolveStorageSettings({ rootDirectory: '/unused', gcInterval: '1m' }).gc,
      async () => {
        calls++
        throw new Error('disk hiccup')
      },
      timers,
    )
    await timers.fire()
    await timers.fire()
    assert.equal(calls, 2)
    assert.deepEqual(timers.pending(), [MINUTE])
    await stop()
  })
})

describe('gc schedule: the server', () => {
  const roots: string[] = []
  after(async () => {
    for (const r of roots) await removeDir(r)
  })

  it('runs one pass after gcDelay (gcInterval 0) and collects an old orphan', async () => {
    const root = await tempDir()
    roots.push(root)
    // Content stored by an earlier run: a tagged image and an orphan blob.
    const before = await inMemoryRegistry({ root })
    const image = makeImage('served', 1)
    assert.equal((await pushImage(before.request, 'app', image, 'v1')).status, 201)
    const orphan = await pushBlob(before.request, 'app', Buffer.from('nobody wants me'))
    await before.close()
    await new Promise((resolve) => setTimeout(resolve, 60)) // the orphan is older than gcDelay

    const server = await socketServer(root, { gc: { enabled: true, delayMs: 50, intervalMs: 0 } })
    try {
      const request = (path: string, init?: RequestInit) => fetch(server.url + path, init)
      const { counters } = server.upkeep.collector
      assert.equal(counters.passes, 0, 'no pass before gcDelay')
      const deadline = Date.now() + 5000
      while (counters.passes === 0 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 10))
      assert.equal(counters.passes, 1)
      assert.equal(counters.blobsRemoved, 1)
      assert.equal(await blobStatus(request, 'app', orphan), 404)
      assert.deepEqual((await pullWhole(request, 'app', 'v1')).bytes, image.manifest)
      await new Promise((resolve) => setTimeout(resolve, 150))
      assert.equal(counters.passes, 1, 'gcInterval 0: only once')
    } finally {
      await server.close()
    }
  })

  it("paces the pass's walk of the repositories, not only the collection in each", async () => {
    const registry = await inMemoryRegistry()
    try {
      // Nested names too: the walk descends into every repository's directory.
      const names = ['a', 'b/c', 'b/c/d', 'e', 'f/g']
      for (const [n, repo] of names.entries()) {
        assert.equal(
          (await pushImage(registry.request, repo, makeImage(`walk-${n}`), 'v1')).status,
          201,
        )
      }
      let pauses = 0
      let collected = 0
      const collector = collectorFor(
        registry.storage.registry,
        {},
        (msg, fields) => {
          if (msg === 'gc pass') collected = Number(fields?.repositories)
        },
        async () => void pauses++,
      )
      await collector.runPass()
      assert.equal(collected, names.length)
      // One pause per directory the walk looked into, then one per repository collected.
      assert.ok(pauses >= 2 * names.length, `${pauses} pauses for ${names.length} repositories`)
    } finally {
      await registry.close()
    }
  })
})
