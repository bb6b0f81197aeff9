// A full disk is the registry's problem, not its data's: the push fails with a retryable error,
// leaves nothing behind, and everything stored before stays servable. A stream of unknown length
// (a PATCH without Content-Length, how skopeo sends layers) is cut at the free-space reserve, its
// staged bytes are freed at once, and the next upload succeeds (issue 14).
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, readdir } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { resolveStorageSettings } from '../src/config/index.js'
import { freeBytes, overHttp } from './helpers/dedupe.js'
import { LoopMount } from './helpers/durability.js'
import {
  inMemoryRegistry,
  layoutFiles,
  makeImage,
  pushImage,
  removeDir,
  sha256,
  socketServer,
  tempDir,
} from './helpers/harness.js'

const skip = process.getuid?.() === 0 ? false : 'needs root to mount a small tmpfs'
const MiB = 1024 * 1024

/**
 * PATCH `total` random bytes as a chunked stream (no Content-Length) over a raw socket, reading
 * the response all along: a server that answers early and stops reading makes the writes fail
 * (EPIPE, ECONNRESET), and the answer must still be read, as skopeo would have to.
 */
function streamedPatch(
  url: string,
  path: string,
  total: number,
): Promise<{ status: number; body: string; sent: number; writeError?: string }> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname)
    let response = ''
    let sent = 0
    let writeError: string | undefined
    let answered = false
    socket.setEncoding('latin1')
    socket.on('data', (d: string) => {
      response += d
      answered ||= /\r\n\r\n/.test(response)
    })
    socket.on('error', (err: NodeJS.ErrnoException) => (writeError ??= err.code ?? String(err)))
    socket.on('close', () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(response)
      if (!m) return reject(new Error(`no response (write error ${writeError}): ${response}`))
      const body = response.slice(response.indexOf('\r\n\r\n') + 4)
      resolve({ status: Number(m[1]), body, sent, writeError })
    })
    socket.write(
      `PATCH ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\n` +
        'Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n' +
        'Connection: close\r\n\r\n',
    )
    const chunk = randomBytes(256 * 1024)
    const frame = Buffer.concat([
      Buffer.from(`${chunk.length.toString(16)}\r\n`),
      chunk,
      Buffer.from('\r\n'),
    ])
    const pump = () => {
      while (sent < total && !answered && !socket.destroyed && !writeError) {
        sent += chunk.length
        if (!socket.write(frame)) return void socket.once('drain', pump)
      }
      if (sent >= total && !socket.destroyed && !writeError) socket.write('0\r\n\r\n')
    }
    pump()
  })
}

describe('disk full', () => {
  let base = ''
  let mnt = ''
  after(async () => {
    if (mnt) execFileSync('umount', ['-l', mnt])
    if (base) await removeDir(base)
  })

  it('answers 507, leaves no stray file, and keeps stored images', { skip }, async () => {
    base = await tempDir()
    mnt = join(base, 'mnt')
    await mkdir(mnt)
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mnt])
    const reg = await inMemoryRegistry({ root: mnt, commit: true })
    try {
      const image = makeImage('disk-full', 1)
      assert.equal((await pushImage(reg.request, 'keep', image, 'v1')).status, 201)
      const before = await layoutFiles(mnt)

      const big = Buffer.alloc(6 * 1024 * 1024, 0x42)
      const res = await reg.request(`/v2/keep/blobs/uploads/?digest=${sha256(big)}`, {
        method: 'POST',
        body: big,
      })
      assert.equal(res.status, 507)
      assert.equal(
        ((await res.json()) as { errors: Array<{ code: string; message: string }> }).errors[0].code,
        'UNKNOWN',
      )
      assert.deepEqual(await layoutFiles(mnt), before)

      const manifest = await reg.request('/v2/keep/manifests/v1')
      assert.deepEqual(Buffer.from(await manifest.arrayBuffer()), image.manifest)
      const layer = await reg.request(`/v2/keep/blobs/${sha256(image.layers[0])}`)
      assert.deepEqual(Buffer.from(await layer.arrayBuffer()), image.layers[0])

      // With the space back, pushing works again.
      const small = makeImage('after-full', 1)
      assert.equal((await pushImage(reg.request, 'keep', small, 'v2')).status, 201)
    } finally {
      await reg.close()
    }
  })

  it(
    'cuts a streamed PATCH at the reserve on a 64 MB ext4, frees its bytes, and takes the next upload',
    { skip },
    async () => {
      const disk = await LoopMount.create(64)
      const root = disk.dir
      // The default reserve ("5%"), as `outpost serve` resolves it.
      const settings = resolveStorageSettings({ rootDirectory: root })
      let server = await socketServer(root, settings)
      try {
        const request = overHttp(server.url)
        const { free: freeBefore, total } = await freeBytes(root)
        const reserve = total * 0.05
        const session = await request('/v2/big/blobs/uploads/', { method: 'POST' })
        assert.equal(session.status, 202)
        const location = session.headers.get('location')!
        const id = location.split('/').at(-1)!

        // More than the whole disk, streamed with no length declared, while the free space is
        // sampled: a sample can only miss the lowest point, never invent one.
        let lowest = freeBefore
        let sampling = true
        const sampler = (async () => {
          while (sampling) {
            lowest = Math.min(lowest, (await freeBytes(root)).free)
            await new Promise((resolve) => setTimeout(resolve, 2))
          }
        })()
        const res = await streamedPatch(server.url, location, 2 * 64 * MiB)
        sampling = false
        await sampler
        // Never below the reserve by more than one 64 KiB chunk of the request stream.
        assert.ok(
          lowest >= reserve - 64 * 1024,
          `free space fell to ${lowest} (reserve ${reserve})`,
        )
        assert.equal(res.status, 507, `${res.body} (write error: ${res.writeError})`)
        const error = JSON.parse(res.body) as { errors: Array<{ code: string; message: string }> }
        assert.equal(error.errors[0].code, 'UNKNOWN')
        assert.match(error.errors[0].message, /minFreeSpace/)
        assert.ok(res.sent < 2 * 64 * MiB, 'the stream was cut before its end')

        // The staged bytes are gone at once, and so is the session.
        const uploads = await readdir(join(root, 'big', '.uploads')).catch((): string[] => [])
        assert.ok(!uploads.includes(id), `staging file of ${id} left: ${uploads}`)
        const { free: freeAfter } = await freeBytes(root)
        assert.ok(freeAfter >= freeBefore - MiB, `space back: ${freeAfter} of ${freeBefore}`)
        assert.ok(freeAfter > reserve, 'the reserve was never crossed for good')
        assert.equal((await request(location)).status, 404)

        // A small upload right after succeeds, and after a restart too.
        const small = randomBytes(1024)
        const put = await request(`/v2/big/blobs/uploads/?digest=${sha256(small)}`, {
          method: 'POST',
          body: small,
        })
        assert.equal(put.status, 201, await put.text())
        await server.close()
        server = await socketServer(root, settings)
        const again = randomBytes(1024)
        const next = await overHttp(server.url)(`/v2/big/blobs/uploads/?digest=${sha256(again)}`, {
          method: 'POST',
          body: again,
        })
        assert.equal(next.status, 201, await next.text())
        assert.deepEqual(await readdir(join(root, 'big', '.uploads')).catch(() => []), [])
      } finally {
        await server.close()
        await disk.dispose()
      }
    },
  )

  it(
    'a streamed PATCH that meets ENOSPC (no reserve) gets 507 and frees its bytes at once',
    { skip },
    async () => {
      const disk = await LoopMount.create(64)
      const root = disk.dir
      const settings = {
        ...resolveStorageSettings({ rootDirectory: root }),
        minFreeSpace: { bytes: 0 },
      }
      const server = await socketServer(root, settings)
      try {
        const request = overHttp(server.url)
        const { free: freeBefore } = await freeBytes(root)
        const session = await request('/v2/big/blobs/uploads/', { method: 'POST' })
        const location = session.headers.get('location')!
        const res = await streamedPatch(server.url, location, 2 * 64 * MiB)
        // Whichever comes first, the guard's last margin or the file system's ENOSPC: 507.
        assert.equal(res.status, 507, `${res.body} (write error: ${res.writeError})`)
        assert.deepEqual(await readdir(join(root, 'big', '.uploads')).catch(() => []), [])
        const { free: freeAfter } = await freeBytes(root)
        assert.ok(freeAfter >= freeBefore - MiB, `space back: ${freeAfter} of ${freeBefore}`)
        const small = randomBytes(1024)
        const put = await request(`/v2/big/blobs/uploads/?digest=${sha256(small)}`, {
          method: 'POST',
          body: small,
        })
        assert.equal(put.status, 201, await put.text())
      } finally {
        await server.close()
        await disk.dispose()
      }
    },
  )
})
