// A full disk is the registry's problem, not its data's: the push fails with a retryable error,
// leaves nothing behind, and everything stored before stays servable.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import {
  inMemoryRegistry,
  layoutFiles,
  makeImage,
  pushImage,
  removeDir,
  sha256,
  tempDir,
} from './helpers/harness.js'

const skip = process.getuid?.() === 0 ? false : 'needs root to mount a small tmpfs'

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
})
