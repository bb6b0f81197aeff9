// The startup dedupe pass (issue 3; zot storage guide, "Deduplication": with dedupe on, blobs
// already in storage are deduplicated at startup): layouts copied into the root end up sharing
// one file per digest, pulls keep working while the pass runs, an interrupted pass resumes where
// it stopped, and a lost engine index is rebuilt, dedupe holders included.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { unlimitedBudget } from '../src/budget/index.js'
import { runDedupePass } from '../src/dedupe/index.js'
import {
  assertPulls,
  blobInode,
  blobPath,
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
  sha256,
  socketServer,
  tempDir,
  type InMemoryRegistry,
  type TestImage,
} from './helpers/harness.js'
import { flipByte, quarantineFiles, type LogLine } from './helpers/scrub.js'

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

// Bit rot in one of two separate copies (pushed while dedupe was off, so each repository has a
// file of its own, hashed at write time). Before linking, the pass hashes both copies: rotten
// bytes go to quarantine as scrub would put them there ("corrupt blob quarantined", repositories
// named), the repository that held them serves the good copy through a link, and no good copy
// is ever replaced by rotten bytes. The same whether the last run stopped cleanly (its verified
// records are trusted) or crashed (nothing is).
describe('startup dedupe pass over a rotten copy', () => {
  after(async () => {
    for (const d of dirs) await removeDir(d)
  })

  /** `image` pushed to each repository with dedupe off: one file per repository, verified. */
  async function separateCopies(image: TestImage, repos: string[]): Promise<string> {
    const root = await dir('rot')
    const reg = await inMemoryRegistry({ root, dedupe: false })
    try {
      for (const repo of repos)
        assert.equal((await pushImage(reg.request, repo, image, 'v1')).status, 201)
    } finally {
      await reg.close()
    }
    return root
  }

  /** Open `root` again, as after a clean stop or a crash (no clean-stop marker). */
  async function reopen(root: string, crash: boolean, logs: LogLine[]) {
    if (crash) await rm(join(root, '_outpost', 'clean-stop'))
    const reg = await inMemoryRegistry({ root, log: (msg, fields) => logs.push({ msg, fields }) })
    assert.equal(reg.storage.cleanStart, !crash)
    assert.equal(reg.storage.dedupe, true)
    return reg
  }

  async function pass(reg: InMemoryRegistry, logs: LogLine[], budget = unlimitedBudget()) {
    const { registry, db } = reg.storage
    const log = (msg: string, fields?: Record<string, unknown>) => logs.push({ msg, fields })
    return runDedupePass({ registry, db, log, budget })
  }

  const fileDigest = async (root: string, repo: string, digest: string) =>
    sha256(await readFile(blobPath(root, repo, digest)))

  for (const crash of [false, true]) {
    const when = crash ? 'after a crash' : 'after a clean restart'

    it(`${when}: a rotten own copy goes to quarantine and is replaced by a link to the good one`, async () => {
      // The pass visits "a" first and finds "b" holding the same digest: "a" is the own copy.
      const image = sizedImage(`own-rot-${crash}`, [96 * KiB, 32 * KiB])
      const layer = sha256(image.layers[0])
      const root = await separateCopies(image, ['a', 'b'])
      await flipByte(blobPath(root, 'a', layer), 1000)
      const rotten = await readFile(blobPath(root, 'a', layer))
      const logs: LogLine[] = []
      const reg = await reopen(root, crash, logs)
      try {
        const result = await pass(reg, logs)
        assert.equal(result.complete, true)
        assert.equal(result.quarantined, 1)
        // The repository that held the rotten copy now links the good one; both serve it.
        const [a, b] = [await blobInode(root, 'a', layer), await blobInode(root, 'b', layer)]
        assert.equal(a.ino, b.ino, 'a links b’s good copy')
        assert.equal(await fileDigest(root, 'b', layer), layer)
        for (const repo of ['a', 'b']) await assertPulls(reg.request, repo, 'v1', image)
        // The rotten bytes are kept as evidence, as they were found.
        const evidence = await quarantineFiles(root)
        assert.equal(evidence.length, 1, JSON.stringify(evidence))
        assert.ok(evidence[0].startsWith(layer.replace(':', '-')))
        const kept = await readFile(join(root, '_outpost', 'quarantine', evidence[0]))
        assert.ok(kept.equals(rotten))
        assertLogged(logs, 'corrupt blob quarantined', { digest: layer, repositories: ['a'] })
        assertLogged(logs, 'quarantined blob restored from a verified copy', {
          digest: layer,
          repositories: ['a'],
          from: 'b',
        })
        assert.deepEqual(reg.storage.db.getMeta(`lost:${layer}`), [], 'nothing waits for a push')
      } finally {
        await reg.close()
      }
    })

    it(`${when}: a rotten source goes to quarantine and nothing is linked to its bytes`, async () => {
      const image = sizedImage(`source-rot-${crash}`, [96 * KiB, 32 * KiB])
      const layer = sha256(image.layers[0])
      const root = await separateCopies(image, ['a', 'b'])
      await flipByte(blobPath(root, 'b', layer), 1000)
      const logs: LogLine[] = []
      const reg = await reopen(root, crash, logs)
      try {
        const result = await pass(reg, logs)
        assert.equal(result.complete, true)
        assert.equal(result.quarantined, 1)
        // a kept its good copy; b, whose copy rotted, links it back (another repository held it).
        assert.equal(await fileDigest(root, 'a', layer), layer, 'a still holds good bytes')
        const [a, b] = [await blobInode(root, 'a', layer), await blobInode(root, 'b', layer)]
        assert.equal(a.ino, b.ino, 'b links a’s good copy')
        for (const repo of ['a', 'b']) await assertPulls(reg.request, repo, 'v1', image)
        const evidence = await quarantineFiles(root)
        assert.equal(evidence.length, 1, JSON.stringify(evidence))
        const kept = await readFile(join(root, '_outpost', 'quarantine', evidence[0]))
        assert.notEqual(sha256(kept), layer)
        assertLogged(logs, 'corrupt blob quarantined', { digest: layer, repositories: ['b'] })
        assertLogged(logs, 'quarantined blob restored from a verified copy', {
          digest: layer,
          repositories: ['b'],
          from: 'a',
        })
      } finally {
        await reg.close()
      }
    })

    it(`${when}: when both copies rotted, both go to quarantine and neither is served`, async () => {
      const image = sizedImage(`both-rot-${crash}`, [64 * KiB])
      const layer = sha256(image.layers[0])
      const root = await separateCopies(image, ['a', 'b'])
      await flipByte(blobPath(root, 'a', layer), 10)
      await flipByte(blobPath(root, 'b', layer), 20)
      const logs: LogLine[] = []
      const reg = await reopen(root, crash, logs)
      try {
        const result = await pass(reg, logs)
        assert.equal(result.quarantined, 2)
        assert.equal(result.linked, imageBlobs(image).length - 1, 'config and manifest only')
        assert.equal((await quarantineFiles(root)).length, 2)
        for (const repo of ['a', 'b']) {
          const res = await reg.request(`/v2/${repo}/blobs/${layer}`)
          assert.equal(res.status, 404, `${repo} serves no rotten bytes`)
          await res.arrayBuffer()
        }
        assert.deepEqual(
          logs
            .filter((l) => l.msg === 'corrupt blob quarantined')
            .map((l) => l.fields!.repositories),
          [['b'], ['a']],
        )
        assert.deepEqual(
          (reg.storage.db.getMeta<string[]>(`lost:${layer}`) ?? []).sort(),
          ['a', 'b'],
          'both wait for the blob to be pushed again',
        )
        assert.equal((await pushImage(reg.request, 'a', image, 'v1')).status, 201)
        for (const repo of ['a', 'b']) await assertPulls(reg.request, repo, 'v1', image)
      } finally {
        await reg.close()
      }
    })
  }

  it('hashes each separate copy once (a source shared by many, once per pass), and a second pass nothing', async () => {
    const image = sizedImage('cost', [64 * KiB, 16 * KiB])
    const repos = ['r1', 'r2', 'r3', 'r4']
    const root = await separateCopies(image, repos)
    const logs: LogLine[] = []
    const reg = await reopen(root, false, logs)
    try {
      const hashedBy = async () => {
        const budget = unlimitedBudget()
        const result = await pass(reg, logs, budget)
        // Each examined blob is one 4 KiB unit; the rest is bytes read to hash them.
        return budget.counters.bytes - result.blobs * 4096
      }
      assert.equal(await hashedBy(), repos.length * imageBytes(image))
      await assertSharedOnce(root, repos, image)
      assert.equal(await hashedBy(), 0, 'linked copies are one file: nothing left to check')
      assert.ok(!logs.some((l) => l.msg === 'corrupt blob quarantined'))
    } finally {
      await reg.close()
    }
  })
})

function assertLogged(logs: LogLine[], msg: string, fields: Record<string, unknown>): void {
  const found = logs.filter((l) => l.msg === msg)
  assert.equal(found.length, 1, `one "${msg}" line: ${JSON.stringify(logs)}`)
  for (const [name, value] of Object.entries(fields))
    assert.deepEqual(found[0].fields?.[name], value, `${msg}: ${name}`)
}
