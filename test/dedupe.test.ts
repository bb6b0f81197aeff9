// Dedupe through hard links (issue 3; zot storage guide, "Deduplication"): identical content in
// several repositories of one root occupies the disk once, deleting it from one repository never
// touches another, dedupe=false stores independent copies, and a filesystem that cannot
// hard-link turns dedupe off with a warning instead of failing pushes.
import { collectGarbage } from '../src/gc/index.js'
import assert from 'node:assert/strict'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { FsDriver } from '../src/storage/fs/index.js'
import { createApp } from '../src/http/index.js'
import { silentLogger } from '../src/log/logger.js'
import { ownStorage } from '../src/server/storage-owner.js'
import {
  assertPulls,
  blobInode,
  diskUsage,
  exfatUnavailable,
  GC_NOW,
  imageBlobs,
  imageBytes,
  mountExfat,
  sizedImage,
  type LoopMount,
} from './helpers/dedupe.js'
import {
  inMemoryRegistry,
  layoutFiles,
  makeImage,
  pushImage,
  removeDir,
  sha256,
  tempDir,
  type InMemoryRegistry,
} from './helpers/harness.js'

const MiB = 1024 * 1024
const reason = await exfatUnavailable()
const dirs: string[] = []
async function freshRoot(): Promise<string> {
  const dir = await tempDir('outpost-dedupe-')
  dirs.push(dir)
  return dir
}

async function catalog(reg: InMemoryRegistry): Promise<string[]> {
  return ((await (await reg.request('/v2/_catalog')).json()) as { repositories: string[] })
    .repositories
}

describe('dedupe through hard links', () => {
  after(async () => {
    for (const dir of dirs) await removeDir(dir)
  })

  it('stores one image pushed to 5 repositories once, and GC of 4 leaves the 5th whole', async () => {
    const reg = await inMemoryRegistry({ root: await freshRoot() })
    try {
      assert.equal(reg.storage.dedupe, true)
      const image = sizedImage('five', [2 * MiB, MiB])
      const repos = ['edge/a', 'edge/b', 'edge/c', 'edge/d', 'edge/e']
      for (const repo of repos) {
        assert.equal((await pushImage(reg.request, repo, image, 'v1')).status, 201)
      }
      for (const digest of imageBlobs(image)) {
        const inodes = await Promise.all(repos.map((r) => blobInode(reg.root, r, digest)))
        assert.equal(new Set(inodes.map((i) => i.ino)).size, 1, `${digest} is one file`)
        for (const i of inodes) assert.equal(i.nlink, 5, `${digest} has 5 names`)
      }
      // du counts a hard-linked file once: one copy's worth (plus index.json and oci-layout).
      const one = imageBytes(image)
      const used = diskUsage(...repos.map((r) => join(reg.root, r)))
      assert.ok(used >= one, `du ${used} covers the image (${one})`)
      assert.ok(used < one + 64 * 1024, `du ${used} is one copy (${one}), not five`)

      for (const repo of repos.slice(0, 4)) {
        const del = await reg.request(`/v2/${repo}/manifests/${image.digest}`, { method: 'DELETE' })
        assert.equal(del.status, 202)
        const gc = await collectGarbage(reg.storage.registry, repo, GC_NOW)
        assert.ok(gc.blobs.includes(sha256(image.layers[0])), `${repo}: layer collected`)
        assert.equal(gc.repositoryRemoved, true, `${repo} left empty`)
        assert.equal(gc.bytes, 0, `${repo}: no bytes freed while edge/e still links them`)
      }
      assert.deepEqual(await catalog(reg), ['edge/e'])
      for (const digest of imageBlobs(image)) {
        assert.equal((await blobInode(reg.root, 'edge/e', digest)).nlink, 1)
      }
      await assertPulls(reg.request, 'edge/e', 'v1', image)
      await assertPulls(reg.request, 'edge/e', image.digest, image)
      const left = diskUsage(
        ...(await readdir(reg.root)).filter((n) => n !== '_outpost').map((n) => join(reg.root, n)),
      )
      assert.ok(left >= one && left < one + 64 * 1024, `after GC du ${left} is one copy`)
    } finally {
      await reg.close()
    }
  })

  it('mounts across repositories by linking, without receiving the bytes', async () => {
    const reg = await inMemoryRegistry({ root: await freshRoot() })
    try {
      const image = sizedImage('mount', [MiB])
      assert.equal((await pushImage(reg.request, 'src', image, 'v1')).status, 201)
      const layer = sha256(image.layers[0])
      const res = await reg.request(`/v2/dst/blobs/uploads/?mount=${layer}&from=src`, {
        method: 'POST',
      })
      assert.equal(res.status, 201)
      assert.equal(res.headers.get('docker-content-digest'), layer)
      const [src, dst] = await Promise.all([
        blobInode(reg.root, 'src', layer),
        blobInode(reg.root, 'dst', layer),
      ])
      assert.equal(dst.ino, src.ino, 'the mounted blob is the same file')
      assert.equal(dst.nlink, 2)
      const pulled = Buffer.from(await (await reg.request(`/v2/dst/blobs/${layer}`)).arrayBuffer())
      assert.ok(pulled.equals(image.layers[0]))
      // Nothing was staged for the mount.
      assert.deepEqual(
        (await layoutFiles(reg.root)).filter((f) => f.includes('.uploads')),
        [],
      )
    } finally {
      await reg.close()
    }
  })

  it('with dedupe=false stores independent copies, mounts by copy, and keeps existing links', async () => {
    const root = await freshRoot()
    const image = sizedImage('independent', [MiB, 256 * 1024])
    const on = await inMemoryRegistry({ root })
    try {
      for (const repo of ['a', 'b']) {
        assert.equal((await pushImage(on.request, repo, image, 'v1')).status, 201)
      }
    } finally {
      await on.close()
    }
    const off = await inMemoryRegistry({ root, dedupe: false })
    try {
      assert.equal(off.storage.dedupe, false)
      assert.equal((await pushImage(off.request, 'c', image, 'v1')).status, 201)
      const other = makeImage('off-only', 2)
      for (const repo of ['e', 'f']) {
        assert.equal((await pushImage(off.request, repo, other, 'v1')).status, 201)
      }
      const layer = sha256(image.layers[0])
      const mount = await off.request(`/v2/d/blobs/uploads/?mount=${layer}&from=a`, {
        method: 'POST',
      })
      assert.equal(mount.status, 201)

      for (const digest of imageBlobs(image)) {
        const a = await blobInode(root, 'a', digest)
        const b = await blobInode(root, 'b', digest)
        const c = await blobInode(root, 'c', digest)
        assert.equal(b.ino, a.ino, 'the link made while dedupe was on stays')
        assert.equal(a.nlink, 2)
        assert.notEqual(c.ino, a.ino, 'a new push is its own copy')
        assert.equal(c.nlink, 1)
      }
      const d = await blobInode(root, 'd', layer)
      assert.notEqual(d.ino, (await blobInode(root, 'a', layer)).ino, 'a mount copies')
      assert.equal(d.nlink, 1)
      for (const digest of imageBlobs(other)) {
        const [e, f] = [await blobInode(root, 'e', digest), await blobInode(root, 'f', digest)]
        assert.notEqual(e.ino, f.ino)
        assert.deepEqual([e.nlink, f.nlink], [1, 1])
      }
      for (const repo of ['a', 'b', 'c']) await assertPulls(off.request, repo, 'v1', image)
      for (const repo of ['e', 'f']) await assertPulls(off.request, repo, 'v1', other)
      const copied = Buffer.from(await (await off.request(`/v2/d/blobs/${layer}`)).arrayBuffer())
      assert.ok(copied.equals(image.layers[0]))
    } finally {
      await off.close()
    }
  })

  it('DELETE of a shared blob in one repository leaves the other copies intact', async () => {
    const reg = await inMemoryRegistry({ root: await freshRoot() })
    try {
      const image = sizedImage('shared', [MiB, 64 * 1024])
      for (const repo of ['one', 'two', 'three']) {
        assert.equal((await pushImage(reg.request, repo, image, 'v1')).status, 201)
      }
      const layer = sha256(image.layers[0])
      // While a manifest references it, the blob stays (405), in every repository.
      const refused = await reg.request(`/v2/one/blobs/${layer}`, { method: 'DELETE' })
      assert.equal(refused.status, 405)
      assert.equal((await blobInode(reg.root, 'one', layer)).nlink, 3)

      const del = await reg.request(`/v2/one/manifests/${image.digest}`, { method: 'DELETE' })
      assert.equal(del.status, 202)
      for (const blob of [image.config, ...image.layers]) {
        const res = await reg.request(`/v2/one/blobs/${sha256(blob)}`, { method: 'DELETE' })
        assert.equal(res.status, 202)
        assert.equal((await reg.request(`/v2/one/blobs/${sha256(blob)}`)).status, 404)
      }
      // GC of the emptied repository does not reach into the others either.
      await collectGarbage(reg.storage.registry, 'one', GC_NOW)
      for (const digest of imageBlobs(image)) {
        const two = await blobInode(reg.root, 'two', digest)
        const three = await blobInode(reg.root, 'three', digest)
        assert.equal(two.ino, three.ino)
        assert.equal(two.nlink, 2)
      }
      for (const repo of ['two', 'three']) await assertPulls(reg.request, repo, 'v1', image)
      // Both remaining holders are still dedupe sources: a new push links to them.
      assert.equal((await pushImage(reg.request, 'four', image, 'v1')).status, 201)
      assert.equal((await blobInode(reg.root, 'four', layer)).nlink, 3)
    } finally {
      await reg.close()
    }
  })

  it('a re-push of content a repository already holds adds no extra link', async () => {
    const reg = await inMemoryRegistry({ root: await freshRoot() })
    try {
      const image = sizedImage('again', [128 * 1024])
      for (const repo of ['x', 'y']) {
        assert.equal((await pushImage(reg.request, repo, image, 'v1')).status, 201)
      }
      assert.equal((await pushImage(reg.request, 'y', image, 'v2')).status, 201)
      for (const digest of imageBlobs(image)) {
        assert.equal((await blobInode(reg.root, 'x', digest)).nlink, 2, `${digest}: two names`)
      }
      assert.deepEqual(
        (await readdir(join(reg.root, '_outpost'), { recursive: true })).filter((f) =>
          f.startsWith('tmp/'),
        ),
        [],
        'no stray staged link left behind',
      )
    } finally {
      await reg.close()
    }
  })
})

describe('dedupe on a filesystem without hard links', () => {
  let mount: LoopMount | undefined
  let base = ''
  after(async () => {
    mount?.release()
    if (base) await removeDir(base)
  })

  it('turns dedupe off with a warning, and pushes still work', { skip: reason }, async () => {
    base = await tempDir('outpost-exfat-')
    mount = await mountExfat(base, 64 * MiB)
    const root = mount.dir
    const logged: string[] = []
    const driver = new FsDriver({ root, commit: false })
    const storage = await ownStorage({
      driver,
      localRoot: root,
      commit: false,
      log: (msg) => logged.push(msg),
      holder: 'test',
      dedupe: true,
    })
    try {
      assert.equal(storage.dedupe, false)
      assert.ok(
        logged.some((m) => /cannot hard-link/.test(m) && /dedupe is disabled/.test(m)),
        `warning logged: ${JSON.stringify(logged)}`,
      )
      const app = createApp({ registry: storage.registry, logger: silentLogger })
      const request = (path: string, init?: RequestInit) => Promise.resolve(app.request(path, init))
      const image = sizedImage('exfat', [256 * 1024])
      for (const repo of ['p', 'q']) {
        assert.equal((await pushImage(request, repo, image, 'v1')).status, 201)
      }
      const layer = sha256(image.layers[0])
      const mounted = await request(`/v2/r/blobs/uploads/?mount=${layer}&from=p`, {
        method: 'POST',
      })
      assert.equal(mounted.status, 201, 'a mount falls back to a copy')
      for (const repo of ['p', 'q']) {
        await assertPulls(request, repo, 'v1', image)
        assert.equal((await blobInode(root, repo, layer)).nlink, 1)
      }
      const copied = Buffer.from(await (await request(`/v2/r/blobs/${layer}`)).arrayBuffer())
      assert.ok(copied.equals(image.layers[0]))
    } finally {
      await storage.close()
    }
  })
})
