// Health says what is true (issue 14): while a store's backend cannot be used, /readyz answers
// 503 naming the store and the failure, and requests that fail for that reason answer 503
// UNAVAILABLE naming the backend, not 500. Covered: the S3 endpoint stopped mid-run (and back),
// a local root on ext4 remounted read-only (writes refused, reads still served), a local root
// removed. Readiness comes from request outcomes and a rate-limited probe, never a backend call
// per /readyz.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { promisify } from 'node:util'
import { after, describe, it } from 'node:test'
import { FsDriver } from '../src/storage/fs/index.js'
import { watchHealth } from '../src/storage/index.js'
import { LoopMount } from './helpers/durability.js'
import {
  childServer,
  makeImage,
  pushImage,
  scratchDirs,
  sha256,
  socketServer,
  type TestImage,
} from './helpers/harness.js'
import { s3rverDriverConfig, startS3rver } from './helpers/s3.js'

const run = promisify(execFile)
const dir = scratchDirs()
const cleanups: Array<() => Promise<unknown>> = []
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
})
const needsRoot = process.getuid?.() === 0 ? false : 'needs root'

type Request = (path: string, init?: RequestInit) => Promise<Response>

interface OciError {
  errors: Array<{ code: string; message: string }>
}

interface Readiness {
  ready: boolean
  unavailable: Array<{ store: string; backend: string; healthy: boolean; reason: string }>
}

async function assertUnavailable(res: Response, message: RegExp): Promise<void> {
  const body = (await res.json()) as OciError
  assert.equal(res.status, 503, JSON.stringify(body))
  assert.equal(body.errors[0].code, 'UNAVAILABLE')
  assert.match(body.errors[0].message, message)
}

async function assertNotReady(request: Request, backend: RegExp, reason: RegExp): Promise<void> {
  const res = await request('/readyz')
  assert.equal(res.status, 503)
  const body = (await res.json()) as Readiness
  assert.equal(body.ready, false)
  assert.equal(body.unavailable.length, 1, JSON.stringify(body))
  assert.equal(body.unavailable[0].store, '/')
  assert.match(body.unavailable[0].backend, backend)
  assert.match(body.unavailable[0].reason, reason)
}

async function assertPulls(request: Request, repo: string, image: TestImage): Promise<void> {
  const manifest = await request(`/v2/${repo}/manifests/v1`)
  assert.equal(manifest.status, 200)
  assert.deepEqual(Buffer.from(await manifest.arrayBuffer()), image.manifest)
  const layer = await request(`/v2/${repo}/blobs/${sha256(image.layers[0])}`)
  assert.equal(layer.status, 200)
  assert.deepEqual(Buffer.from(await layer.arrayBuffer()), image.layers[0])
}

/** Open an upload session and PATCH `bytes` into it; the PATCH's response. */
async function patchUpload(request: Request, repo: string, bytes: Buffer): Promise<Response> {
  const session = await request(`/v2/${repo}/blobs/uploads/`, { method: 'POST' })
  assert.equal(session.status, 202, await session.text())
  return request(session.headers.get('location')!, {
    method: 'PATCH',
    headers: { 'Content-Type': 'application/octet-stream' },
    body: new Uint8Array(bytes),
  })
}

describe('backend health', () => {
  it('S3 stopped mid-run: 503 UNAVAILABLE naming the bucket, /readyz 503, both back after', async () => {
    const data = await dir('outpost-s3rver-data-')
    let s3 = await startS3rver({ directory: data })
    cleanups.push(() => s3.stop())
    const server = await childServer(await dir(), {
      dedupe: false,
      storageDriver: s3rverDriverConfig(s3, { rootdirectory: 'health' }),
    })
    cleanups.push(() => server.kill('SIGTERM'))
    const request: Request = (path, init) => fetch(`${server.url}${path}`, init)
    const image = makeImage('s3-health', 1)
    assert.equal((await pushImage(request, 'app', image, 'v1')).status, 201)
    assert.equal((await request('/readyz')).status, 200)
    // The push schedules a refresh of the repository's summary (src/registry/repo-summary.ts),
    // which reads index.json, the manifest and the config from S3 after the 201; count S3 calls
    // only once its record lists the tag.
    await summarised(request, 'app', 'v1')
    // s3rver logs each request on its stdout, which may trail its HTTP answer a little.
    await delay(50)
    const asked = s3.requests.length
    for (let i = 0; i < 5; i++) assert.equal((await request('/readyz')).status, 200)
    await delay(50)
    assert.equal(s3.requests.length, asked, 'a healthy /readyz makes no S3 call')

    await s3.stop()
    const where = new RegExp(`s3 \\(bucket ${s3.bucket} at ${s3.endpoint.replace(/\./g, '\\.')}\\)`)
    const unreachable = new RegExp(`${where.source} unreachable: ECONNREFUSED`)
    await assertUnavailable(await request('/v2/app/manifests/v1'), unreachable)
    await assertUnavailable(await request(`/v2/app/blobs/${sha256(image.layers[0])}`), unreachable)
    await assertNotReady(request, where, /unreachable: ECONNREFUSED/)
    assert.match(server.output(), /"error":"StorageUnavailableError/)

    s3 = await startS3rver({ directory: data, port: s3.port })
    // A request that succeeds again makes the store ready again (no probe needed).
    await assertPulls(request, 'app', image)
    const ready = await request('/readyz')
    assert.equal(ready.status, 200, await ready.text())
  })

  it(
    'a local root remounted read-only: writes 503, reads served, /readyz 503 until writable',
    { skip: needsRoot },
    async () => {
      const disk = await LoopMount.create(64)
      const root = disk.dir
      const engine = join(root, '_outpost')
      let tmpfs = false
      let server: Awaited<ReturnType<typeof socketServer>> | undefined
      try {
        // The image is pushed with the engine state on the disk itself; then the engine state
        // (LMDB, lock: files a server keeps open for writing, which make `mount -o remount,ro`
        // fail with EBUSY) moves to a tmpfs mounted over _outpost, so the disk can be remounted
        // read-only under a running server, as an ext4 error would (errors=remount-ro).
        const image = makeImage('ro-health', 1)
        server = await socketServer(root)
        assert.equal((await pushImage(fetcher(server.url), 'app', image, 'v1')).status, 201)
        await server.close()
        await run('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', engine])
        tmpfs = true
        server = await socketServer(root)
        const request = fetcher(server.url)
        await assertPulls(request, 'app', image)
        assert.equal((await request('/readyz')).status, 200)

        await run('mount', ['-o', 'remount,ro', root])
        const where = new RegExp(`local \\(${root}\\) read-only: EROFS`)
        await assertUnavailable(await patchUpload(request, 'app', Buffer.alloc(1024, 1)), where)
        await assertPulls(request, 'app', image)
        await assertNotReady(request, /^local \(/, /read-only: EROFS/)
        // Reads keep succeeding; they do not make a read-only store ready.
        await assertPulls(request, 'app', image)
        assert.equal((await request('/readyz')).status, 503)

        await run('mount', ['-o', 'remount,rw', root])
        assert.equal((await patchUpload(request, 'app', Buffer.alloc(1024, 2))).status, 202)
        assert.equal((await request('/readyz')).status, 200)
      } finally {
        await server?.close()
        if (tmpfs) await run('umount', [engine])
        await disk.dispose()
      }
    },
  )

  it('a local root removed: 503 UNAVAILABLE, never recreated as an empty registry', async () => {
    const base = await dir()
    const root = join(base, 'root')
    await mkdir(root)
    const server = await socketServer(root)
    cleanups.push(() => server.close())
    const request = fetcher(server.url)
    const image = makeImage('gone-health', 1)
    assert.equal((await pushImage(request, 'app', image, 'v1')).status, 201)

    await rm(root, { recursive: true, force: true })
    const gone = /local \(.*\) root directory is gone: ENOENT/
    await assertUnavailable(await request('/v2/app/manifests/v1'), gone)
    await assertUnavailable(await request(`/v2/app/blobs/${sha256(image.layers[0])}`), gone)
    const small = Buffer.from('x')
    await assertUnavailable(
      await request(`/v2/app/blobs/uploads/?digest=${sha256(small)}`, {
        method: 'POST',
        body: small,
      }),
      gone,
    )
    await assertUnavailable(await patchUpload(request, 'app', Buffer.alloc(1024, 3)), gone)
    await assertNotReady(request, /^local \(/, /root directory is gone/)
    assert.equal(existsSync(root), false, 'the root is not recreated')
  })

  it('probes at most once per interval, only while unhealthy or stale', async () => {
    const root = await dir()
    await mkdir(join(root, 'r'))
    const { driver, health } = watchHealth(new FsDriver({ root: join(root, 'r'), commit: false }), {
      probeIntervalMs: 60_000,
      staleMs: 60_000,
      probeTimeoutMs: 5_000,
    })
    assert.equal((await health.report()).healthy, true)
    await rm(join(root, 'r'), { recursive: true })
    await assert.rejects(() => driver.get('x/y'), { name: 'StorageUnavailableError' })
    // The first report after the failure probes (the root is still gone) ...
    let report = await health.report()
    assert.equal(report.healthy, false)
    assert.match(report.reason!, /root directory is gone/)
    // ... and no other probe runs within the interval: the root back changes nothing yet.
    await mkdir(join(root, 'r'))
    report = await health.report()
    assert.equal(report.healthy, false, 'no second probe within the interval')
    await driver.put('k', Buffer.from('v'))
    assert.equal((await health.report()).healthy, true, 'a successful write clears it')

    // With the interval passed, the due probe is what sees the root come back.
    const eager = watchHealth(new FsDriver({ root: join(root, 'r'), commit: false }), {
      probeIntervalMs: 0,
      staleMs: 60_000,
      probeTimeoutMs: 5_000,
    })
    await rm(join(root, 'r'), { recursive: true })
    await assert.rejects(() => eager.driver.stat('k'), { name: 'StorageUnavailableError' })
    assert.equal((await eager.health.report()).healthy, false)
    await mkdir(join(root, 'r'))
    assert.equal((await eager.health.report()).healthy, true, 'the probe saw it back')
  })
})

/** Wait (up to 200 polls) until the operator's record of `repo` lists `tag`. */
async function summarised(request: Request, repo: string, tag: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const res = await request(`/v2/_outpost/repositories/${repo}`)
    const body = res.ok ? ((await res.json()) as { tags?: string[] }) : await res.text()
    if (typeof body === 'object' && body.tags?.includes(tag)) return
    await delay(20)
  }
  assert.fail(`the summary of ${repo} never listed ${tag}`)
}

function fetcher(url: string): Request {
  return (path, init) => fetch(`${url}${path}`, init)
}
