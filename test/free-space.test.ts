// The free-space reserve (issue 3, storage.minFreeSpace): on a small tmpfs, uploads that would
// leave less free space than the reserve are refused with 507 and a message naming the setting —
// up front when the length is declared, and mid-stream (each chunk admitted against the reserve)
// when it is not — leaving nothing behind, while everything stored before stays whole.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { resolveStorageSettings } from '../src/config/index.js'
import {
  assertPulls,
  freeBytes,
  mountTmpfs,
  notRoot,
  overHttp,
  sizedImage,
  unmount,
} from './helpers/dedupe.js'
import {
  layoutFiles,
  pushImage,
  removeDir,
  sha256,
  socketServer,
  tempDir,
} from './helpers/harness.js'

const KiB = 1024
const MiB = 1024 * KiB
const reason = notRoot || (await tmpfsUnavailable())

/** Whether this process may mount a tmpfs (a container without CAP_SYS_ADMIN may not). */
async function tmpfsUnavailable(): Promise<string | false> {
  const probe = await tempDir('outpost-probe-')
  try {
    const dir = mountTmpfs(probe, 'probe', '1m')
    if (!dir) return 'mount -t tmpfs is not permitted here (needs root with CAP_SYS_ADMIN)'
    unmount(dir)
    return false
  } finally {
    await removeDir(probe)
  }
}

/** minFreeSpace as the config file spells it, resolved the way `outpost serve` does. */
function reserve(root: string, text: string) {
  return {
    minFreeSpace: resolveStorageSettings({ rootDirectory: root, minFreeSpace: text }).minFreeSpace,
  }
}

async function stagedFiles(root: string): Promise<string[]> {
  return (await readdir(join(root, '_outpost'), { recursive: true })).filter((f) =>
    f.startsWith('tmp/'),
  )
}

async function assertRefused(res: Response): Promise<void> {
  assert.equal(res.status, 507)
  const body = (await res.json()) as { errors: Array<{ code: string; message: string }> }
  assert.equal(body.errors[0].code, 'UNKNOWN')
  assert.match(body.errors[0].message, /minFreeSpace/)
}

/**
 * PATCH `total` bytes to an upload session as a chunked stream (no Content-Length), the way a
 * client streaming from a pipe does. Resolves with the response, whenever it comes.
 */
function patchChunked(url: string, total: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/octet-stream', 'Transfer-Encoding': 'chunked' },
    })
    let answered = false
    req.on('response', (res) => {
      answered = true
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (body += d))
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body })
        req.destroy()
      })
    })
    req.on('error', (err) => {
      if (!answered) reject(err)
    })
    const chunk = randomBytes(MiB)
    let sent = 0
    const pump = () => {
      while (sent < total && !answered && !req.destroyed) {
        sent += chunk.length
        if (!req.write(chunk)) return void req.once('drain', pump)
      }
      if (sent >= total && !answered) req.end()
    }
    pump()
  })
}

describe('free-space reserve', () => {
  let base = ''
  const mounts: string[] = []

  before(async () => {
    base = await tempDir('outpost-free-')
  })
  after(async () => {
    for (const m of mounts) unmount(m)
    await removeDir(base)
  })

  function tmpfs(name: string, size: string): string {
    const dir = mountTmpfs(base, name, size)
    assert.ok(dir, `mount -t tmpfs -o size=${size} failed`)
    mounts.push(dir)
    return dir
  }

  it(
    'refuses a monolithic push that would cross "2MB" before writing, and takes one that fits',
    { skip: reason },
    async () => {
      const root = tmpfs('bytes', '8m')
      const server = await socketServer(root, reserve(root, '2MB'))
      const request = overHttp(server.url)
      try {
        const kept = sizedImage('kept', [256 * KiB])
        assert.equal((await pushImage(request, 'keep', kept, 'v1')).status, 201)
        const before = await layoutFiles(root)
        const { free } = await freeBytes(root)

        // Fits on the disk, but would leave 1 MB free where 2 MB are reserved.
        const tooBig = randomBytes(free - 1_000_000)
        const res = await request(`/v2/keep/blobs/uploads/?digest=${sha256(tooBig)}`, {
          method: 'POST',
          body: tooBig,
        })
        await assertRefused(res)
        assert.deepEqual(await layoutFiles(root), before, 'layout unchanged, no session left')
        assert.deepEqual(await stagedFiles(root), [])
        assert.ok((await freeBytes(root)).free >= free - 64 * KiB, 'nothing was written')

        // A refused push to a new repository does not create it.
        await assertRefused(
          await request(`/v2/fresh/blobs/uploads/?digest=${sha256(tooBig)}`, {
            method: 'POST',
            body: tooBig,
          }),
        )
        assert.equal(existsSync(join(root, 'fresh')), false)
        assert.deepEqual(await layoutFiles(root), before)

        // Bigger than the disk altogether: the same clear refusal, not ENOSPC halfway.
        const huge = randomBytes(10 * MiB)
        await assertRefused(
          await request(`/v2/keep/blobs/uploads/?digest=${sha256(huge)}`, {
            method: 'POST',
            body: huge,
          }),
        )
        assert.deepEqual(await layoutFiles(root), before)

        // A chunk with a declared length is refused the same way, and its session stays usable.
        const session = await request('/v2/keep/blobs/uploads/', { method: 'POST' })
        assert.equal(session.status, 202)
        const location = session.headers.get('location')!
        await assertRefused(
          await request(location, {
            method: 'PATCH',
            headers: { 'Content-Type': 'application/octet-stream' },
            body: tooBig,
          }),
        )
        const status = await request(location)
        assert.equal(status.status, 204)
        assert.equal(status.headers.get('range'), '0-0')
        assert.equal((await request(location, { method: 'DELETE' })).status, 204)

        // What leaves the reserve untouched is accepted.
        const fits = sizedImage('fits', [(await freeBytes(root)).free - 2_000_000 - 1_000_000])
        assert.equal((await pushImage(request, 'keep', fits, 'v2')).status, 201)
        await assertPulls(request, 'keep', 'v1', kept)
        await assertPulls(request, 'keep', 'v2', fits)
      } finally {
        await server.close()
      }
    },
  )

  it('honours the percentage form "50%"', { skip: reason }, async () => {
    const root = tmpfs('percent', '8m')
    const server = await socketServer(root, reserve(root, '50%'))
    const request = overHttp(server.url)
    try {
      const kept = sizedImage('kept', [128 * KiB])
      assert.equal((await pushImage(request, 'keep', kept, 'v1')).status, 201)
      const { free, total } = await freeBytes(root)
      const headroom = free - total / 2
      assert.ok(headroom > 2 * MiB, `room to test with: ${headroom}`)
      const before = await layoutFiles(root)

      const over = randomBytes(Math.round(headroom + 512 * KiB))
      await assertRefused(
        await request(`/v2/keep/blobs/uploads/?digest=${sha256(over)}`, {
          method: 'POST',
          body: over,
        }),
      )
      assert.deepEqual(await layoutFiles(root), before)

      const under = sizedImage('under', [Math.round(headroom - MiB)])
      assert.equal((await pushImage(request, 'keep', under, 'v2')).status, 201)
      await assertPulls(request, 'keep', 'v1', kept)
      await assertPulls(request, 'keep', 'v2', under)
    } finally {
      await server.close()
    }
  })

  it(
    'cuts off a chunked stream of unknown length at the reserve and frees what it staged',
    { skip: reason },
    async () => {
      const root = tmpfs('stream', '40m')
      const server = await socketServer(root, reserve(root, '20MB'))
      const request = overHttp(server.url)
      try {
        const kept = sizedImage('kept', [MiB])
        assert.equal((await pushImage(request, 'keep', kept, 'v1')).status, 201)
        const before = await layoutFiles(root)
        const { free } = await freeBytes(root)

        const session = await request('/v2/keep/blobs/uploads/', { method: 'POST' })
        assert.equal(session.status, 202)
        const location = session.headers.get('location')!
        const res = await patchChunked(server.url + location, 30 * MiB)
        assert.equal(res.status, 507, res.body)
        assert.match(res.body, /minFreeSpace/)

        // The cut session's staged bytes are freed at once, and the session with them.
        assert.deepEqual(await layoutFiles(root), before)
        assert.equal((await request(location)).status, 404)
        const after = (await freeBytes(root)).free
        assert.ok(after >= free - 64 * KiB, `space back (${after} of ${free})`)
        await assertPulls(request, 'keep', 'v1', kept)
      } finally {
        await server.close()
      }
    },
  )
})
