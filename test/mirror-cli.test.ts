// `outpost mirror <config.json> [--once] [--dry-run]` in a child process (issue 15) against an
// upstream Outpost: --dry-run lists what would be fetched with its size and writes nothing;
// --once mirrors it (JSON lines when stdout is not a terminal) and a second run finds it up to
// date; the mirrored image is served with the upstream stopped; it refuses while a server holds
// the storage, naming the holder's pid; an unreachable upstream exits 1; no periodic registry
// exits 1 with a clear message.
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import {
  childServer,
  layoutFiles,
  listFiles,
  makeImage,
  pushImage,
  scratchDirs,
  sha256,
  socketServer,
} from './helpers/harness.js'
import { runOutpost } from './helpers/outpost-cli.js'

const dir = scratchDirs()
const cleanups: Array<() => Promise<unknown>> = []
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {})
})

async function configFile(root: string, url: string, registry: Record<string, unknown> = {}) {
  const file = join(await dir('outpost-mirror-config-'), 'config.json')
  await writeFile(
    file,
    JSON.stringify({
      storage: { rootDirectory: root },
      http: { address: '127.0.0.1', port: 0 },
      extensions: {
        sync: {
          registries: [
            {
              urls: [url],
              pollInterval: '6h',
              content: [{ prefix: 'edge/**' }],
              tlsVerify: false,
              maxRetries: 0,
              retryDelay: '10ms',
              ...registry,
            },
          ],
        },
      },
    }),
  )
  return file
}

/** The JSON lines of a run's stdout. */
function lines(stdout: string): Array<Record<string, any>> {
  return stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l))
}

describe('outpost mirror', () => {
  it('--dry-run lists and writes nothing; --once mirrors; a second run is up to date', async () => {
    const upstream = await socketServer(await dir())
    let up = true
    cleanups.push(() => (up ? upstream.close() : Promise.resolve()))
    const image = makeImage('mirror-cli', 2)
    const request = (path: string, init?: RequestInit) => fetch(`${upstream.url}${path}`, init)
    assert.equal((await pushImage(request, 'edge/app', image, '1.0')).status, 201)
    // Outside the content rule: never fetched.
    assert.equal((await pushImage(request, 'other/app', makeImage('other'), '1.0')).status, 201)
    const root = await dir()
    const file = await configFile(root, upstream.url)

    const before = await listFiles(root)
    const dry = await runOutpost(['mirror', file, '--dry-run'])
    assert.equal(dry.code, 0, dry.stdout + dry.stderr)
    const planned = lines(dry.stdout).filter((l) => l.kind === 'would-fetch')
    assert.deepEqual(
      planned.map((p) => [p.repo, p.reference, p.digest]),
      [['edge/app', '1.0', image.digest]],
    )
    const size = [image.config, ...image.layers].reduce((n, b) => n + b.length, 0)
    assert.ok(planned[0].bytes >= size, `would fetch ${planned[0].bytes} bytes`)
    assert.deepEqual(await listFiles(root), before, 'the dry run wrote something')

    const once = await runOutpost(['mirror', file, '--once'])
    assert.equal(once.code, 0, once.stdout + once.stderr)
    const events = lines(once.stdout)
    const done = events.filter((l) => l.kind === 'image-done')
    assert.deepEqual(
      done.map((d) => [d.repo, d.reference, d.digest]),
      [['edge/app', '1.0', image.digest]],
    )
    const pass = events.find((l) => l.kind === 'pass')!
    assert.deepEqual(pass.images, { copied: 1, upToDate: 0, failed: 0, skipped: 0 })
    assert.ok(pass.bytes >= size)

    const again = await runOutpost(['mirror', file, '--once'])
    assert.equal(again.code, 0, again.stdout + again.stderr)
    const second = lines(again.stdout).find((l) => l.kind === 'pass')!
    assert.deepEqual(second.images, { copied: 0, upToDate: 1, failed: 0, skipped: 0 })
    assert.equal(second.bytes, 0)

    await upstream.close()
    up = false
    const local = await socketServer(root)
    try {
      const res = await fetch(`${local.url}/v2/edge/app/manifests/1.0`, {
        headers: { Accept: image.mediaType },
      })
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('docker-content-digest'), image.digest)
      for (const blob of [image.config, ...image.layers]) {
        const b = await fetch(`${local.url}/v2/edge/app/blobs/${sha256(blob)}`)
        assert.ok(Buffer.from(await b.arrayBuffer()).equals(blob))
      }
      assert.equal((await fetch(`${local.url}/v2/other/app/manifests/1.0`)).status, 404)
    } finally {
      await local.close()
    }
  })

  it('refuses while a server holds the storage, naming its pid, and touches nothing', async () => {
    const upstream = await socketServer(await dir())
    cleanups.push(() => upstream.close())
    const request = (path: string, init?: RequestInit) => fetch(`${upstream.url}${path}`, init)
    assert.equal((await pushImage(request, 'edge/busy', makeImage('busy'), 'v1')).status, 201)
    const root = await dir()
    const file = await configFile(root, upstream.url)
    const server = await childServer(root, { gc: false })
    try {
      const before = await layoutFiles(root)
      const r = await runOutpost(['mirror', file, '--once'])
      assert.equal(r.code, 1, r.stdout + r.stderr)
      assert.match(r.stderr, /storage is in use by serve \(pid \d+\)/)
      assert.deepEqual(await layoutFiles(root), before)
    } finally {
      await server.kill('SIGTERM')
    }
  })

  it('exits 1 when the upstream cannot be reached, saying so', async () => {
    const s = createServer()
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
    const { port } = s.address() as AddressInfo
    await new Promise((resolve) => s.close(resolve))
    const file = await configFile(await dir(), `http://127.0.0.1:${port}`)
    const r = await runOutpost(['mirror', file, '--once'])
    assert.equal(r.code, 1, r.stdout + r.stderr)
    const pass = lines(r.stdout).find((l) => l.kind === 'pass')!
    assert.equal(pass.stoppedBy, 'upstream-unreachable')
    assert.match(pass.reason, new RegExp(`127\\.0\\.0\\.1:${port}`))
  })

  it('exits 1 with a clear message when no registry is periodic; 2 on a usage error', async () => {
    const root = await dir()
    const file = join(await dir('outpost-mirror-config-'), 'config.json')
    await writeFile(
      file,
      JSON.stringify({
        storage: { rootDirectory: root },
        extensions: { sync: { registries: [{ urls: ['http://127.0.0.1:1'], onDemand: true }] } },
      }),
    )
    const r = await runOutpost(['mirror', file])
    assert.equal(r.code, 1, r.stdout + r.stderr)
    assert.match(r.stderr, /no registry in extensions\.sync has a pollInterval/)
    const usage = await runOutpost(['mirror'])
    assert.equal(usage.code, 2)
    assert.match(usage.stderr, /mirror takes one config file/)
  })
})
