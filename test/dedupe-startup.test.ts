// The startup dedupe pass (issue 3; zot storage guide, "Deduplication": with dedupe on, blobs
// already in storage are deduplicated at startup): layouts copied into the root end up sharing
// one file per digest, pulls keep working while the pass runs, an interrupted pass resumes where
// it stopped, and a lost engine index is rebuilt, dedupe holders included.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { runDedupePass } from '../src/gc/index.js'
import {
  assertPulls,
  blobInode,
  diskUsage,
  imageBlobs,
  imageBytes,
  overHttp,
  sizedImage,
} from './helpers/dedupe.js'
import {
  inMemoryRegistry,
  pushImage,
  removeDir,
  socketServer,
  tempDir,
  type TestImage,
} from './helpers/harness.js'

const KiB = 1024
const dirs: string[] = []
async function dir(prefix: string): Promise<string> {
  const d = await tempDir(`outpost-${prefix}-`)
  dirs.push(d)
  return d
}

/** A root whose repositories are independent `cp -r` copies of one layout holding `image`. */
async function copiedRoot(image: TestImage, repos: string[]): Promise<string> {
  const origin = await dir('origin')
  const reg = await inMemoryRegistry({ root: origin })
  try {
    assert.equal((await pushImage(reg.request, 'origin', image, 'v1')).status, 201)
  } finally {
    await reg.close()
  }
  const root = await dir('copied')
  for (const repo of repos) {
    execFileSync('mkdir', ['-p', join(root, repo, '..')])
    execFileSync('cp', ['-r', join(origin, 'origin'), join(root, repo)])
  }
  return root
}

/** How many of the repositories' blob files have more than one name. */
async function linkedFiles(root: string, repos: string[], image: TestImage): Promise<number> {
  let linked = 0
  for (const repo of repos) {
    for (const digest of imageBlobs(image)) {
      if ((await blobInode(root, repo, digest)).nlink > 1) linked++
    }
  }
  return linked
}

async function assertSharedOnce(root: string, repos: string[], image: TestImage): Promise<void> {
  for (const digest of imageBlobs(image)) {
    const inodes = await Promise.all(repos.map((r) => blobInode(root, r, digest)))
    assert.equal(new Set(inodes.map((i) => i.ino)).size, 1, `${digest}: one file`)
    for (const i of inodes) assert.equal(i.nlink, repos.length, `${digest}: every repo links it`)
  }
}

describe('startup dedupe pass', () => {
  after(async () => {
    for (const d of dirs) await removeDir(d)
  })

  it('links 3 copied layouts once a server has started, and they all pull', async () => {
    const image = sizedImage('copied', [512 * KiB, 256 * KiB, 128 * KiB])
    const repos = ['site/one', 'site/two', 'site/three']
    const root = await copiedRoot(image, repos)
    assert.equal(await linkedFiles(root, repos, image), 0, 'cp -r made independent copies')
    const copies = diskUsage(...repos.map((r) => join(root, r)))
    assert.ok(copies >= 3 * imageBytes(image))

    const server = await socketServer(root)
    try {
      await server.upkeep.startupDone
      await assertSharedOnce(root, repos, image)
      const used = diskUsage(...repos.map((r) => join(root, r)))
      assert.ok(used < imageBytes(image) + 64 * KiB, `du ${used} is one copy after the pass`)
      for (const repo of repos) await assertPulls(overHttp(server.url), repo, 'v1', image)
    } finally {
      await server.close()
    }
  })

  it('serves pulls byte-identical while a slow pass links the copies', async () => {
    const image = sizedImage(
      'during',
      Array.from({ length: 8 }, () => 128 * KiB),
    )
    const repos = ['r/a', 'r/b', 'r/c']
    const root = await copiedRoot(image, repos)
    const reg = await inMemoryRegistry({ root })
    try {
      const perRepo = imageBlobs(image).length
      let done = false
      const pass = runDedupePass({
        registry: reg.storage.registry,
        db: reg.storage.db,
        log: () => {},
        blobsPerSecond: 15,
      }).finally(() => (done = true))

      let pulls = 0
      let midway = 0
      while (!done) {
        const linked = await linkedFiles(root, repos, image)
        const repo = repos[pulls % repos.length]
        await assertPulls(reg.request, repo, 'v1', image)
        pulls++
        if (linked > 0 && linked < perRepo * repos.length && !done) midway++
      }
      const result = await pass
      assert.equal(result.complete, true)
      assert.equal(result.blobs, perRepo * repos.length)
      assert.equal(result.linked, perRepo * 2, 'the 2nd and 3rd copies were linked to the 1st')
      assert.ok(midway >= 3, `pulls made while the pass was half done: ${midway} of ${pulls}`)
      await assertSharedOnce(root, repos, image)
      for (const repo of repos) await assertPulls(reg.request, repo, 'v1', image)
    } finally {
      await reg.close()
    }
  })

  it('resumes an interrupted pass after a restart without redoing finished repositories', async () => {
    const image = sizedImage('resume', [64 * KiB, 32 * KiB])
    const repos = ['r1', 'r2', 'r3', 'r4']
    const root = await copiedRoot(image, repos)
    const perRepo = imageBlobs(image).length

    const first = await inMemoryRegistry({ root })
    try {
      const { registry, db } = first.storage
      const result = await runDedupePass({
        registry,
        db,
        log: () => {},
        blobsPerSecond: Infinity,
        shouldStop: () => db.getMeta<{ after?: string }>('dedupe-pass')?.after === 'r2',
      })
      assert.equal(result.complete, false)
      assert.equal(result.repositories, 2)
      assert.equal(result.blobs, 2 * perRepo)
      assert.deepEqual(db.getMeta('dedupe-pass'), { after: 'r2' })
      await assertSharedOnce(root, ['r1', 'r2'], image)
      assert.equal(await linkedFiles(root, ['r3', 'r4'], image), 0, 'r3 and r4 not reached yet')
    } finally {
      await first.close()
    }

    const second = await inMemoryRegistry({ root })
    try {
      const { registry, db } = second.storage
      assert.deepEqual(db.getMeta('dedupe-pass'), { after: 'r2' }, 'progress survives a restart')
      const logged: string[] = []
      const result = await runDedupePass({
        registry,
        db,
        log: (msg) => logged.push(msg),
        blobsPerSecond: Infinity,
      })
      assert.equal(result.complete, true)
      assert.equal(result.repositories, 2)
      assert.equal(result.blobs, 2 * perRepo, 'only r3 and r4 were examined')
      assert.equal(result.linked, 2 * perRepo)
      assert.ok(logged.includes('dedupe pass resuming'), JSON.stringify(logged))
      assert.equal(db.getMeta<{ after?: string }>('dedupe-pass')?.after, undefined)
      await assertSharedOnce(root, repos, image)
      for (const repo of repos) await assertPulls(second.request, repo, 'v1', image)
    } finally {
      await second.close()
    }
  })

  it('rebuilds a deleted engine index: every image pulls, holders return, pushes link again', async () => {
    const root = await dir('index-loss')
    const shared = sizedImage('shared', [256 * KiB, 64 * KiB])
    const own = sizedImage('own', [64 * KiB])
    const repos = ['apps/web', 'apps/api', 'apps/db']
    const first = await socketServer(root)
    try {
      const request = overHttp(first.url)
      for (const repo of repos) {
        assert.equal((await pushImage(request, repo, shared, 'v1')).status, 201)
      }
      assert.equal((await pushImage(request, 'apps/web', own, 'v2')).status, 201)
    } finally {
      await first.close()
    }
    await rm(join(root, '_outpost', 'index'), { recursive: true, force: true })

    const second = await socketServer(root)
    try {
      assert.equal(second.storage.db.fresh, true, 'the index starts empty')
      const request = overHttp(second.url)
      // Served from the layout while the startup passes run.
      for (const repo of repos) await assertPulls(request, repo, 'v1', shared)
      await assertPulls(request, 'apps/web', 'v2', own)
      await second.upkeep.startupDone
      for (const digest of imageBlobs(shared)) {
        const holders = second.storage.db.holders(digest).map(([repo]) => repo)
        assert.deepEqual(holders.sort(), [...repos].sort(), `${digest}: holders rebuilt`)
      }
      for (const digest of imageBlobs(own)) {
        assert.deepEqual(
          second.storage.db.holders(digest).map(([repo]) => repo),
          ['apps/web'],
        )
      }
      assert.equal((await pushImage(request, 'apps/cache', shared, 'v1')).status, 201)
      await assertSharedOnce(root, [...repos, 'apps/cache'], shared)
      for (const repo of [...repos, 'apps/cache']) await assertPulls(request, repo, 'v1', shared)
      await assertPulls(request, 'apps/web', 'v2', own)
      const tags = await (await request('/v2/apps/web/tags/list')).json()
      assert.deepEqual(tags, { name: 'apps/web', tags: ['v1', 'v2'] })
    } finally {
      await second.close()
    }
  })
})
