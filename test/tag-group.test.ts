// Group commit of index.json (issue 17): a burst of concurrent tag pushes to one repository is
// fewer index.json writes than pushes, every tag lands, and with `commit` on no 201 is sent
// before the durable write that holds its own tag has finished.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { FsDriver } from '../src/storage/fs/index.js'
import type { StorageDriver } from '../src/storage/index.js'
import { inMemoryRegistry, makeImage, pushImage, scratchDirs, sha256 } from './helpers/harness.js'

const dir = scratchDirs()
const REF_NAME = 'org.opencontainers.image.ref.name'

interface IndexWrite {
  tags: string[]
  finished: boolean
}

/** An fs driver that records each index.json put: the tags it holds and whether it finished. */
function recordingDriver(root: string): { driver: StorageDriver; writes: IndexWrite[] } {
  const fs = new FsDriver({ root, commit: true })
  const writes: IndexWrite[] = []
  const driver = new Proxy(fs, {
    get(target, prop, receiver) {
      if (prop !== 'put') return Reflect.get(target, prop, receiver)
      return async (key: string, bytes: Buffer, ...rest: unknown[]) => {
        if (!key.endsWith('/index.json')) return target.put(key, bytes, ...(rest as []))
        const doc = JSON.parse(bytes.toString()) as {
          manifests: Array<{ annotations?: Record<string, string> }>
        }
        const write: IndexWrite = {
          tags: doc.manifests.flatMap((d) => d.annotations?.[REF_NAME] ?? []),
          finished: false,
        }
        writes.push(write)
        await target.put(key, bytes, ...(rest as []))
        write.finished = true
      }
    },
  })
  return { driver, writes }
}

describe('index.json group commit', () => {
  it('writes a burst of tag pushes in fewer writes, each 201 after its own durable write', async () => {
    const root = await dir()
    const { driver, writes } = recordingDriver(root)
    const reg = await inMemoryRegistry({ root, commit: true, driver })
    try {
      const count = 24
      const images = Array.from({ length: count }, (_, i) => makeImage(`burst-${i}`))
      // Blobs first, so that the manifest PUTs arrive together (a burst, as a CI pipeline's).
      for (const image of images) {
        for (const blob of [image.config, ...image.layers]) {
          const res = await reg.request(`/v2/burst/app/blobs/uploads/?digest=${sha256(blob)}`, {
            method: 'POST',
            body: blob,
          })
          assert.equal(res.status, 201)
        }
      }
      const before = writes.length
      const acked: string[] = []
      await Promise.all(
        images.map(async (image, i) => {
          const res = await reg.request(`/v2/burst/app/manifests/t${i}`, {
            method: 'PUT',
            headers: { 'Content-Type': image.mediaType },
            body: image.manifest,
          })
          assert.equal(res.status, 201)
          // The write holding this tag must be finished (fsynced) before the 201.
          assert.ok(
            writes.some((w) => w.finished && w.tags.includes(`t${i}`)),
            `201 for t${i} before a finished write held it`,
          )
          acked.push(`t${i}`)
        }),
      )
      const burst = writes.length - before
      assert.equal(acked.length, count)
      assert.ok(burst < count, `${burst} index.json writes for ${count} concurrent tag pushes`)
      const tags = await reg.request('/v2/burst/app/tags/list')
      const listed = ((await tags.json()) as { tags: string[] }).tags
      assert.deepEqual(listed.sort(), images.map((_, i) => `t${i}`).sort())
    } finally {
      await reg.close()
    }
  })

  it('a refused push beside a burst leaves the others stored', async () => {
    const reg = await inMemoryRegistry({ root: await dir(), commit: true })
    try {
      const good = makeImage('good')
      assert.equal((await pushImage(reg.request, 'mixed/app', good, 'warm')).status, 201)
      // A manifest naming a blob the repository lacks, sent beside good pushes.
      const bad = makeImage('bad')
      const puts = Array.from({ length: 6 }, (_, i) =>
        reg.request(`/v2/mixed/app/manifests/${i === 3 ? 'bad' : `ok${i}`}`, {
          method: 'PUT',
          headers: { 'Content-Type': good.mediaType },
          body: i === 3 ? bad.manifest : good.manifest,
        }),
      )
      const statuses = (await Promise.all(puts)).map((r) => r.status)
      assert.deepEqual(statuses, [201, 201, 201, 400, 201, 201])
      const res = await reg.request('/v2/mixed/app/tags/list')
      const listed = ((await res.json()) as { tags: string[] }).tags
      assert.deepEqual(listed, ['ok0', 'ok1', 'ok2', 'ok4', 'ok5', 'warm'])
    } finally {
      await reg.close()
    }
  })
})
