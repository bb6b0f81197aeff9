// The periodic mirror in a running server (issue 15): a registry with a pollInterval gets its
// first pass soon after start; after it the content is served locally with the upstream (another
// Outpost) stopped; GET /v2/_outpost/mirror shows the pass, and is for admins like the other
// maintenance endpoints; the outpost_mirror_* metrics are there; an upstream down for a whole
// pass leaves nothing local and the status says why; a server with no periodic registry says
// the mirror is off. The schedule runs on the monotonic clock: driven here with a manual clock,
// a wall clock leaping years neither runs the missed passes nor delays the next one.
import assert from 'node:assert/strict'
import { createServer, type AddressInfo } from 'node:net'
import { after, describe, it } from 'node:test'
import { resolveSync, syncSchema } from '../src/config/sync.js'
import { Mirror } from '../src/upstream/mirror/scheduler.js'
import { runMirrorPass } from '../src/upstream/mirror/mirror-pass.js'
import { unpaced } from '../src/upstream/mirror/types.js'
import type { MirrorStatus } from '../src/upstream/mirror/status.js'
import { ManualClock } from '../src/util/clock.js'
import { RegistryRouter } from '../src/registry/index.js'
import { UpstreamClient } from '../src/upstream/index.js'
import { basic, httpSettings, writeHtpasswd } from './helpers/auth.js'
import {
  inMemoryRegistry,
  makeImage,
  pushImage,
  scratchDirs,
  sha256,
  socketServer,
} from './helpers/harness.js'

const dir = scratchDirs()
const cleanups: Array<() => Promise<unknown>> = []
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {})
})

/** extensions.sync with one periodic registry mirroring everything at `url`. */
function periodicSync(url: string, extra: Record<string, unknown> = {}) {
  return resolveSync(
    syncSchema.parse({
      registries: [
        {
          urls: [url],
          pollInterval: '1h',
          content: [{ prefix: '**' }],
          tlsVerify: false,
          maxRetries: 0,
          retryDelay: '10ms',
          ...extra,
        },
      ],
    }),
  )
}

/** A URL where nothing listens. */
async function deadUrl(): Promise<string> {
  const s = createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const { port } = s.address() as AddressInfo
  await new Promise((resolve) => s.close(resolve))
  return `http://127.0.0.1:${port}`
}

/** Polls `check` (bounded by count) until it returns a value. */
async function until<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const value = await check()
    if (value !== undefined) return value
    await new Promise((r) => setTimeout(r, 50))
  }
  assert.fail(`gave up waiting for ${what}`)
}

async function statusOf(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/v2/_outpost/mirror`, { headers })
  assert.equal(res.status, 200)
  return (await res.json()) as MirrorStatus
}

describe('the periodic mirror in a server', () => {
  it('mirrors an upstream Outpost on its first pass; serves it with the upstream stopped', async () => {
    const upstream = await socketServer(await dir())
    let upstreamUp = true
    cleanups.push(() => (upstreamUp ? upstream.close() : Promise.resolve()))
    const request = (path: string, init?: RequestInit) => fetch(`${upstream.url}${path}`, init)
    const images = { 'app/one': makeImage('mirror-one', 2), 'app/two': makeImage('mirror-two') }
    for (const [repo, image] of Object.entries(images))
      assert.equal((await pushImage(request, repo, image, 'v1')).status, 201)
    // An Outpost with no periodic registry says its mirror is off.
    assert.deepEqual(await statusOf(upstream.url), { enabled: false })

    const server = await socketServer(await dir(), {}, { sync: periodicSync(upstream.url) })
    cleanups.push(() => server.close())
    const status = await until('the first pass', async () => {
      const s = await statusOf(server.url)
      return s.registries[0]?.lastPass ? s : undefined
    })
    const [reg] = status.registries
    const upstreamHost = new URL(upstream.url).host
    assert.equal(reg.upstream, upstreamHost)
    assert.equal(reg.pollIntervalSeconds, 3600)
    assert.deepEqual(reg.lastPass!.images, { copied: 2, upToDate: 0, failed: 0, skipped: 0 })
    assert.deepEqual(reg.lastPass!.failures, [])
    assert.equal(reg.lastPass!.stoppedBy, undefined)
    const layerBytes = Object.values(images).reduce(
      (n, i) => n + [i.config, ...i.layers].reduce((m, b) => m + b.length, 0),
      0,
    )
    assert.ok(reg.lastPass!.bytes >= layerBytes, `${reg.lastPass!.bytes} bytes mirrored`)
    assert.equal(reg.totals.passes, 1)
    // The next pass an interval after this one started, by the wall clock shown to people.
    const next = Date.parse(reg.nextPassAt!) - Date.parse(reg.lastPass!.startedAt)
    assert.ok(next > 3500_000 && next <= 3600_000 + 60_000, `next pass in ${next} ms`)

    const metrics = await (await fetch(`${server.url}/metrics`)).text()
    const line = (name: string, labels: string) =>
      new RegExp(`^${name}\\{${labels}\\} (\\S+)$`, 'm').exec(metrics)?.[1]
    const label = `upstream="${upstreamHost}"`
    assert.ok(Number(line('outpost_mirror_bytes_total', label)) >= layerBytes, metrics)
    assert.equal(line('outpost_mirror_images_total', `${label},result="copied"`), '2')
    assert.equal(line('outpost_mirror_failures_total', label), '0')
    assert.equal(line('outpost_mirror_in_flight', label), '0')
    assert.ok(line('outpost_mirror_pass_duration_seconds', label) !== undefined)

    await upstream.close()
    upstreamUp = false
    for (const [repo, image] of Object.entries(images)) {
      const res = await fetch(`${server.url}/v2/${repo}/manifests/v1`, {
        headers: { Accept: image.mediaType },
      })
      assert.equal(res.status, 200, `${repo}:v1 with the upstream stopped`)
      assert.equal(res.headers.get('docker-content-digest'), image.digest)
      for (const blob of [image.config, ...image.layers]) {
        const b = await fetch(`${server.url}/v2/${repo}/blobs/${sha256(blob)}`)
        assert.equal(b.status, 200)
        assert.ok(Buffer.from(await b.arrayBuffer()).equals(blob))
      }
    }
  })

  it('is for admins like the other maintenance endpoints; an upstream down is shown with why', async () => {
    const root = await dir()
    const htpasswd = await writeHtpasswd(`${root}.htpasswd`, {
      alice: 'alice-pw',
      admin: 'admin-pw',
    })
    const http = httpSettings(root, {
      auth: { htpasswd: { path: htpasswd } },
      accessControl: {
        repositories: { '**': { policies: [{ users: ['alice'], actions: ['read'] }] } },
        adminPolicy: { users: ['admin'], actions: ['read', 'create', 'update', 'delete'] },
      },
    })
    const url = await deadUrl()
    const server = await socketServer(root, {}, { sync: periodicSync(url), http })
    cleanups.push(() => server.close())
    const get = (headers: Record<string, string>) =>
      fetch(`${server.url}/v2/_outpost/mirror`, { headers })
    assert.equal((await get({})).status, 401)
    assert.equal((await get(basic('alice', 'alice-pw'))).status, 403)
    const admin = basic('admin', 'admin-pw')
    const status = await until('the failed pass', async () => {
      const s = await statusOf(server.url, admin)
      return s.registries[0]?.lastPass ? s : undefined
    })
    const pass = status.registries[0].lastPass!
    assert.equal(pass.stoppedBy, 'upstream-unreachable')
    assert.match(pass.reason ?? '', new RegExp(new URL(url).host.replace('.', '\\.')))
    assert.deepEqual(pass.images, { copied: 0, upToDate: 0, failed: 0, skipped: 0 })
    const catalog = await fetch(`${server.url}/v2/_catalog`, { headers: admin })
    assert.deepEqual(((await catalog.json()) as { repositories: string[] }).repositories, [])
  })
})

/** Sleeps the test ends by moving a manual clock's monotonic time. */
class ManualTimers {
  private waiting: Array<{ due: number; resolve: () => void }> = []
  constructor(private readonly clock: ManualClock) {}

  sleep = (ms: number, signal: AbortSignal): Promise<void> =>
    new Promise((resolve, reject) => {
      this.waiting.push({ due: this.clock.monoMs() + ms, resolve })
      signal.addEventListener('abort', () => reject(signal.reason), { once: true })
    })

  get pending(): number {
    return this.waiting.length
  }

  advance(ms: number): void {
    this.clock.advance(ms)
    const due = this.waiting.filter((w) => w.due <= this.clock.monoMs())
    this.waiting = this.waiting.filter((w) => w.due > this.clock.monoMs())
    for (const w of due) w.resolve()
  }
}

describe('the mirror schedule on the monotonic clock', () => {
  it('a wall clock leaping years neither runs the missed passes nor delays the next', async () => {
    const reg = await inMemoryRegistry()
    cleanups.push(() => reg.close())
    const settings = periodicSync(await deadUrl())!.registries[0]
    const client = new UpstreamClient(settings)
    cleanups.push(async () => client.close())
    const router = new RegistryRouter(reg.storage.registry, {})
    const clock = new ManualClock()
    const timers = new ManualTimers(clock)
    const mirror = new Mirror({
      registries: [
        {
          settings,
          deps: { router, client, pacer: unpaced, log: () => {}, pin: async () => {} },
        },
      ],
      runPass: runMirrorPass,
      log: () => {},
      clock,
      sleep: timers.sleep,
      firstPassAfterMs: 1000,
    })
    const passes = () => mirror.status().registries[0].totals.passes
    const settled = (n: number) =>
      until(`pass ${n}`, async () => (passes() === n && timers.pending === 1 ? true : undefined))
    mirror.start()
    await settled(0)
    clock.jumpWall(10 * 365 * 86_400_000) // NTP sets a board that booted in 1970
    await new Promise((r) => setTimeout(r, 50))
    assert.equal(passes(), 0, 'a wall-clock leap ran a pass')
    timers.advance(1000)
    await settled(1)
    const HOUR = 3_600_000
    timers.advance(HOUR - 60_000)
    clock.jumpWall(-20 * 365 * 86_400_000)
    await new Promise((r) => setTimeout(r, 50))
    assert.equal(passes(), 1, 'ran before its interval')
    // The next pass shows an interval after the last start on the (jumped) wall clock too.
    const nextAt = Date.parse(mirror.status().registries[0].nextPassAt!)
    assert.equal(nextAt, clock.wallMs() + 60_000)
    timers.advance(60_000)
    await settled(2)
    assert.equal(mirror.status().registries[0].lastPass!.stoppedBy, 'upstream-unreachable')
    await mirror.stop()
    assert.equal(mirror.status().registries[0].nextPassAt, undefined)
  })
})
