// Scrub (issue 4; zot storage guide, "Scrub"): bit rot in a layer, a config or a manifest is
// found, reported per image and quarantined out of every repository that links the bytes; the
// next verified push heals every one of them. Shared bytes hash once per pass, layout damage is
// reported without stopping the pass, an interrupted pass resumes, and the last report is served
// at GET /v2/_outpost/scrub.
import { scrubRegistryRepository } from '../src/scrub/index.js'
import assert from 'node:assert/strict'
import { readFile, rm, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { Budget, unlimitedBudget } from '../src/budget/index.js'
import { createApp } from '../src/http/index.js'
import { silentLogger } from '../src/log/logger.js'
import { descOf, expectError, MT, pushBlob, putManifest, sha512 } from './helpers/api.js'
import {
  assertPulls,
  blobInode,
  blobPath,
  imageBytes,
  overHttp,
  sizedImage,
} from './helpers/dedupe.js'
import {
  inMemoryRegistry,
  makeImage,
  removeDir,
  sha256,
  socketServer,
  tempDir,
  type InMemoryRegistry,
} from './helpers/harness.js'
import {
  affectedImages,
  affectedManifests,
  assertBlobUnknown,
  flipByte,
  itemOf,
  pushAll,
  quarantineFiles,
  scrubberOn,
  type LogLine,
} from './helpers/scrub.js'
import type { ScrubItem } from '../src/scrub/index.js'

const KiB = 1024
const dirs: string[] = []
after(async () => {
  for (const dir of dirs) await removeDir(dir)
})

async function freshRoot(): Promise<string> {
  const dir = await tempDir('outpost-scrub-')
  dirs.push(dir)
  return dir
}

describe('scrub finds, quarantines and heals corrupt content', () => {
  it('reports exactly the images whose layer, config or manifest rotted; a re-push heals every repository', async () => {
    const logs: LogLine[] = []
    const log = (msg: string, fields?: Record<string, unknown>) => logs.push({ msg, fields })
    const reg = await inMemoryRegistry({ root: await freshRoot(), log })
    const { root, request } = reg
    try {
      assert.equal(reg.storage.dedupe, true)
      const layerRot = makeImage('layer-rot', 2)
      const configRot = makeImage('config-rot', 1)
      const manifestRot = makeImage('manifest-rot', 1)
      const intact = makeImage('intact', 2)
      // Dedupe links alpha-mirror's and gamma-mirror's blobs to alpha's and gamma's files;
      // beta's image is stored nowhere else.
      await pushAll(request, [
        ['alpha', layerRot, 'v1'],
        ['alpha', intact, 'intact'],
        ['alpha-mirror', layerRot, 'v1'],
        ['beta', configRot, 'v1'],
        ['delta', intact, 'v1'],
        ['gamma', manifestRot, 'v1'],
        ['gamma-mirror', manifestRot, 'v1'],
      ])
      const layer = sha256(layerRot.layers[1])
      const config = sha256(configRot.config)
      const manifest = manifestRot.digest
      assert.equal((await blobInode(root, 'alpha-mirror', layer)).nlink, 2)
      assert.equal((await blobInode(root, 'gamma-mirror', manifest)).nlink, 2)
      // Pulled once before the rot, so any cached manifest bytes would be at hand afterwards.
      for (const [repo, image] of [
        ['alpha-mirror', layerRot],
        ['gamma', manifestRot],
        ['gamma-mirror', manifestRot],
      ] as const)
        await assertPulls(request, repo, 'v1', image)

      // The operator page's summaries read each pushed manifest and config, verifying them on
      // first read: one still pending after the rot would quarantine beta's config before scrub
      // saw it (scrub then reports it "missing"; seen under load).
      await reg.storage.registry.summaries.settled()
      await flipByte(blobPath(root, 'alpha', layer), 7)
      await flipByte(blobPath(root, 'beta', config), 0)
      await flipByte(blobPath(root, 'gamma', manifest), 20)

      const report = await scrubberOn(reg.storage, { logs }).runPass()
      assert.equal(report.complete, true)
      assert.equal(report.repositories, 6)
      assert.equal(report.images, 7)
      assert.equal(report.ok, 2, 'alpha:intact and delta:v1')
      // Exactly the three rotted images; through the hard links, each repository holding one of
      // them lost it too and reports its image affected ("quarantined"), not only the first.
      assert.deepEqual(
        affectedManifests(report),
        [layerRot.digest, configRot.digest, manifest].sort(),
      )
      assert.deepEqual(affectedImages(report), [
        'alpha-mirror:v1',
        'alpha:v1',
        'beta:v1',
        'gamma-mirror:v1',
        'gamma:v1',
      ])
      assert.equal(report.affectedCount, 5)
      const mismatch = /^digest mismatch: content hashes to sha256:[0-9a-f]{64}$/
      for (const [repo, blob, error] of [
        ['alpha', layer, mismatch],
        ['alpha-mirror', layer, /^quarantined/],
        ['beta', config, mismatch],
        ['gamma', manifest, mismatch],
        ['gamma-mirror', manifest, /^quarantined/],
      ] as const) {
        const item = itemOf(report.affected, repo)
        assert.equal(item.blob, blob, repo)
        assert.equal(item.tag, 'v1', repo)
        assert.match(item.error, error, repo)
      }
      // One log line per affected image, one per quarantined blob.
      const damaged = logs.filter((l) => l.msg === 'scrub found a damaged image')
      assert.deepEqual(
        damaged.map((l) => `${l.fields!.repo}:${l.fields!.tag}`).sort(),
        affectedImages(report),
      )
      const moved = logs.filter((l) => l.msg === 'corrupt blob quarantined')
      assert.deepEqual(
        moved.map((l) => [l.fields!.digest, (l.fields!.repositories as string[]).sort()]),
        [
          [layer, ['alpha', 'alpha-mirror']],
          [config, ['beta']],
          [manifest, ['gamma', 'gamma-mirror']],
        ],
      )
      // The evidence survives under _outpost/quarantine/, the rotted bytes as they were found.
      const evidence = await quarantineFiles(root)
      assert.equal(evidence.length, 3)
      for (const digest of [layer, config, manifest]) {
        const [file] = evidence.filter((f) => f.startsWith(digest.replace(':', '-')))
        assert.ok(file, `${digest} kept in quarantine`)
        const kept = await readFile(join(root, '_outpost', 'quarantine', file))
        assert.notEqual(sha256(kept), digest)
      }

      for (const [repo, digest] of [
        ['alpha', layer],
        ['alpha-mirror', layer],
        ['beta', config],
        ['gamma', manifest],
        ['gamma-mirror', manifest],
      ])
        await assertBlobUnknown(request, repo, digest)
      for (const repo of ['gamma', 'gamma-mirror']) {
        await expectError(await request(`/v2/${repo}/manifests/v1`), 404, 'MANIFEST_UNKNOWN')
      }
      // The rest is untouched: the intact images, and the rotted image's other layer.
      await assertPulls(request, 'alpha', 'intact', intact)
      await assertPulls(request, 'delta', 'v1', intact)
      const otherLayer = await request(`/v2/alpha/blobs/${sha256(layerRot.layers[0])}`)
      assert.equal(otherLayer.status, 200)
      await otherLayer.arrayBuffer()

      // Mount never uses quarantined content: from either repository it falls back to a session.
      for (const from of ['alpha-mirror', 'alpha']) {
        const res = await request(`/v2/fresh/blobs/uploads/?mount=${layer}&from=${from}`, {
          method: 'POST',
        })
        assert.equal(res.status, 202, `mount from ${from}`)
        assert.ok(res.headers.get('location'))
      }
      const session = await request(`/v2/fresh/blobs/uploads/?mount=${layer}&from=alpha`, {
        method: 'POST',
      })
      assert.equal(session.status, 202)

      // Heal: the layer arrives through that session in another repository, the config is pushed
      // to beta again, the manifest PUT to gamma again.
      const location = session.headers.get('location')!
      const put = await request(`${location}${location.includes('?') ? '&' : '?'}digest=${layer}`, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/octet-stream' },
        body: layerRot.layers[1],
      })
      assert.equal(put.status, 201, await put.text())
      await pushBlob(request, 'beta', configRot.config)
      const again = await putManifest(request, 'gamma', 'v1', manifestRot.manifest, MT.ociManifest)
      assert.equal(again.status, 201, await again.text())

      for (const [repo, image] of [
        ['alpha', layerRot],
        ['alpha-mirror', layerRot],
        ['beta', configRot],
        ['gamma', manifestRot],
        ['gamma-mirror', manifestRot],
      ] as const) {
        await assertPulls(request, repo, 'v1', image)
        await assertPulls(request, repo, image.digest, image)
      }
      // Restored by linking again: one file for alpha, alpha-mirror and fresh.
      const inodes = await Promise.all(
        ['alpha', 'alpha-mirror', 'fresh'].map((r) => blobInode(root, r, layer)),
      )
      assert.equal(new Set(inodes.map((i) => i.ino)).size, 1)

      const next = await scrubberOn(reg.storage).runPass()
      assert.equal(next.affectedCount, 0, JSON.stringify(next.affected))
      assert.deepEqual(next.affected, [])
      assert.equal(next.ok, 7)
      assert.equal(next.repositories, 7, 'fresh is a repository now (it holds the layer only)')
    } finally {
      await reg.close()
    }
  })

  it('without dedupe only the rotted copy is affected; the other repository keeps serving its own', async () => {
    const reg = await inMemoryRegistry({ root: await freshRoot(), dedupe: false })
    const { root, request } = reg
    try {
      const image = makeImage('copies', 2)
      await pushAll(request, [
        ['one', image, 'v1'],
        ['two', image, 'v1'],
      ])
      const layer = sha256(image.layers[0])
      assert.notEqual(
        (await blobInode(root, 'one', layer)).ino,
        (await blobInode(root, 'two', layer)).ino,
      )
      await flipByte(blobPath(root, 'one', layer), 3)

      const report = await scrubberOn(reg.storage).runPass()
      assert.deepEqual(affectedImages(report), ['one:v1'])
      assert.equal(report.ok, 1)
      assert.equal(report.bytesHashed, 2 * imageBytes(image), 'each copy hashed')
      await assertBlobUnknown(request, 'one', layer)
      await assertPulls(request, 'two', 'v1', image)
      // A mount from the intact copy works (by copying); from the quarantined one it cannot.
      const fromOne = await request(`/v2/three/blobs/uploads/?mount=${layer}&from=one`, {
        method: 'POST',
      })
      assert.equal(fromOne.status, 202)
      const fromTwo = await request(`/v2/one/blobs/uploads/?mount=${layer}&from=two`, {
        method: 'POST',
      })
      assert.equal(fromTwo.status, 201, 'the mount from two heals one')
      await assertPulls(request, 'one', 'v1', image)
      assert.notEqual(
        (await blobInode(root, 'one', layer)).ino,
        (await blobInode(root, 'two', layer)).ino,
        'still separate copies',
      )
      assert.equal((await scrubberOn(reg.storage).runPass()).affectedCount, 0)
    } finally {
      await reg.close()
    }
  })

  it('without dedupe a heal pushed to another repository restores a separate copy', async () => {
    const reg = await inMemoryRegistry({ root: await freshRoot(), dedupe: false })
    try {
      const image = makeImage('separate', 1)
      await pushAll(reg.request, [['one', image, 'v1']])
      const layer = sha256(image.layers[0])
      await flipByte(blobPath(reg.root, 'one', layer), 0)
      assert.deepEqual(affectedImages(await scrubberOn(reg.storage).runPass()), ['one:v1'])
      await pushBlob(reg.request, 'three', image.layers[0])
      await assertPulls(reg.request, 'one', 'v1', image)
      const [one, three] = await Promise.all(
        ['one', 'three'].map((r) => blobInode(reg.root, r, layer)),
      )
      assert.notEqual(one.ino, three.ino, 'dedupe is off: one keeps a copy of its own')
    } finally {
      await reg.close()
    }
  })

  it('keeps a verified upload that replaced the rotted file while it was being hashed', async () => {
    const reg = await inMemoryRegistry({ root: await freshRoot(), dedupe: false })
    try {
      const image = sizedImage('race', [1024 * KiB])
      await pushAll(reg.request, [['one', image, 'v1']])
      const layer = sha256(image.layers[0])
      await flipByte(blobPath(reg.root, 'one', layer), 0)
      // The scrub has read the layer's first (rotted) chunk when the client pushes it again.
      let pushed = false
      const pace = async (bytes: number) => {
        if (pushed || bytes < 64 * KiB) return
        pushed = true
        await pushBlob(reg.request, 'one', image.layers[0])
      }
      const result = await scrubRegistryRepository(reg.storage.registry, 'one', {
        pace,
        memo: new Map(),
        shouldStop: () => false,
      })
      assert.equal(pushed, true)
      assert.deepEqual(result.affected, [], 'the new file was checked and found intact')
      assert.equal(result.ok, 1)
      assert.deepEqual(await quarantineFiles(reg.root), [])
      await assertPulls(reg.request, 'one', 'v1', image)
    } finally {
      await reg.close()
    }
  })
})

describe('scrub hashes shared bytes once per pass', () => {
  const shared = sizedImage('shared', [256 * KiB, 64 * KiB])
  const alone = sizedImage('alone', [32 * KiB])
  const repos = ['s/a', 's/b', 's/c', 's/d']

  async function storage(dedupe: boolean): Promise<InMemoryRegistry> {
    const reg = await inMemoryRegistry({ root: await freshRoot(), dedupe })
    for (const repo of repos) await pushAll(reg.request, [[repo, shared, 'v1']])
    await pushAll(reg.request, [['solo', alone, 'v1']])
    return reg
  }

  it('with dedupe (hard links) each unique blob is hashed once, in every pass', async () => {
    const reg = await storage(true)
    try {
      const budget = unlimitedBudget()
      const scrubber = scrubberOn(reg.storage, { budget })
      const unique = imageBytes(shared) + imageBytes(alone)
      const first = await scrubber.runPass()
      assert.equal(first.bytesHashed, unique)
      assert.equal(budget.counters.bytes, unique, 'bytes read through the budget')
      assert.equal(first.images, 5)
      assert.equal(first.ok, 5)
      // The memory of what was hashed lasts one pass: the next pass hashes everything again.
      const second = await scrubber.runPass()
      assert.equal(second.bytesHashed, unique)
      assert.deepEqual(scrubber.counters, { passes: 2, bytesHashed: 2 * unique, affected: 0 })
    } finally {
      await reg.close()
    }
  })

  it('without dedupe each separate copy is hashed', async () => {
    const reg = await storage(false)
    try {
      const budget = unlimitedBudget()
      const report = await scrubberOn(reg.storage, { budget }).runPass()
      const copies = repos.length * imageBytes(shared) + imageBytes(alone)
      assert.equal(report.bytesHashed, copies)
      assert.equal(budget.counters.bytes, copies)
      assert.equal(report.ok, 5)
    } finally {
      await reg.close()
    }
  })
})

describe('scrub reports layout damage and keeps going', () => {
  it('reports a broken index.json, a missing oci-layout, wrong sizes and a rotted sha512 blob', async () => {
    const reg = await inMemoryRegistry({ root: await freshRoot() })
    const { root, request } = reg
    try {
      const images = Object.fromEntries(
        ['a-index', 'b-layout', 'c-short', 'e-fine'].map((r) => [r, makeImage(r, 1)]),
      )
      for (const [repo, image] of Object.entries(images))
        await pushAll(request, [[repo, image, 'v1']])
      // c-short-mirror links c-short's files (dedupe), the layer that will be truncated too.
      await pushAll(request, [['c-short-mirror', images['c-short'], 'v1']])
      // d-sha512: two images whose layers are addressed by sha512; one of them rots. f-liar: an
      // intact layer under a descriptor that states the wrong size.
      const pushWithLayer = async (repo: string, seed: string, algorithm: 'sha256' | 'sha512') => {
        const cfg = Buffer.from(JSON.stringify({ architecture: 'arm64', os: 'linux', seed }))
        const layer = Buffer.from(`${algorithm} layer of ${seed}`)
        const digest = algorithm === 'sha512' ? sha512(layer) : sha256(layer)
        await pushBlob(request, repo, cfg)
        const up = await request(`/v2/${repo}/blobs/uploads/?digest=${digest}`, {
          method: 'POST',
          body: layer,
        })
        assert.equal(up.status, 201, await up.text())
        const doc = {
          schemaVersion: 2,
          mediaType: MT.ociManifest,
          config: descOf(MT.ociConfig, cfg),
          layers: [{ mediaType: MT.ociLayer, digest, size: layer.length }],
        }
        const bytes = Buffer.from(JSON.stringify(doc))
        const res = await putManifest(request, repo, seed, bytes, MT.ociManifest)
        assert.equal(res.status, 201, await res.text())
        return { digest, size: layer.length, doc, manifest: bytes }
      }
      const good = await pushWithLayer('d-sha512', 'good', 'sha512')
      const rotten = await pushWithLayer('d-sha512', 'rotten', 'sha512')
      // A manifest whose descriptor lies about the size is refused at push time, so f-liar's
      // comes from another tool: its manifest is rewritten on disk and index.json points at it.
      const liar = await pushWithLayer('f-liar', 'v1', 'sha256')
      const lying = Buffer.from(
        JSON.stringify({
          ...liar.doc,
          layers: [{ ...liar.doc.layers[0], size: liar.size + 1 }],
        }),
      )
      await writeFile(blobPath(root, 'f-liar', sha256(lying)), lying)
      const liarIndex = JSON.parse(await readFile(join(root, 'f-liar', 'index.json'), 'utf8'))
      liarIndex.manifests[0].digest = sha256(lying)
      liarIndex.manifests[0].size = lying.length
      await writeFile(join(root, 'f-liar', 'index.json'), JSON.stringify(liarIndex))

      await writeFile(join(root, 'a-index', 'index.json'), '{"schemaVersion": 2, "manifests": [')
      await rm(join(root, 'b-layout', 'oci-layout'))
      const shortLayer = images['c-short'].layers[0]
      const short = sha256(shortLayer)
      await truncate(blobPath(root, 'c-short', short), shortLayer.length - 1)
      await flipByte(blobPath(root, 'd-sha512', rotten.digest), 0)

      const report = await scrubberOn(reg.storage).runPass()
      assert.equal(report.complete, true)
      assert.equal(report.repositories, 7, 'the pass went on past every damaged repository')
      // a-index has no readable image list; every other repository lists its images.
      assert.equal(report.images, 7)
      assert.equal(report.ok, 3, 'b-layout:v1, d-sha512:good and e-fine:v1')
      assert.equal(report.affectedCount, 6)
      const index = itemOf(report.affected, 'a-index')
      assert.equal(index.manifest, undefined)
      assert.match(index.error, /^index\.json: /)
      const layout = itemOf(report.affected, 'b-layout')
      assert.equal(layout.manifest, undefined)
      assert.match(layout.error, /^oci-layout: /)
      // Truncated bytes are corrupt: reported, and quarantined out of both repositories.
      const truncated = itemOf(report.affected, 'c-short')
      assert.deepEqual([truncated.tag, truncated.blob], ['v1', short])
      const sizes = `size ${shortLayer.length - 1}, descriptor says ${shortLayer.length}`
      assert.match(truncated.error, new RegExp(`^${sizes}; content hashes to sha256:`))
      const mirrored = itemOf(report.affected, 'c-short-mirror')
      assert.deepEqual([mirrored.tag, mirrored.blob], ['v1', short])
      assert.match(mirrored.error, /^quarantined/)
      for (const repo of ['c-short', 'c-short-mirror'])
        await assertBlobUnknown(request, repo, short)
      // Intact bytes under a lying descriptor: reported, and left where they are.
      const lie = itemOf(report.affected, 'f-liar')
      assert.deepEqual(
        [lie.blob, lie.error],
        [liar.digest, `size ${liar.size}, descriptor says ${liar.size + 1}`],
      )
      assert.equal(
        (await request(`/v2/f-liar/blobs/${liar.digest}`, { method: 'HEAD' })).status,
        200,
      )
      // sha512 content is hashed with sha512: the intact layer passes, the rotted one does not.
      const sha = itemOf(report.affected, 'd-sha512')
      assert.deepEqual([sha.tag, sha.blob], ['rotten', rotten.digest])
      assert.match(sha.error, /^digest mismatch: content hashes to sha512:[0-9a-f]{128}$/)
      const intact = await request(`/v2/d-sha512/blobs/${good.digest}`)
      assert.equal(intact.status, 200, 'the intact sha512 layer still serves')
      assert.equal(sha512(Buffer.from(await intact.arrayBuffer())), good.digest)
      await assertBlobUnknown(request, 'd-sha512', rotten.digest)
      assert.equal((await quarantineFiles(root)).length, 2)
      await assertPulls(request, 'e-fine', 'v1', images['e-fine'])

      // One push of the full layer heals both repositories that linked the truncated file.
      await pushBlob(request, 'c-short', shortLayer)
      for (const repo of ['c-short', 'c-short-mirror'])
        await assertPulls(request, repo, 'v1', images['c-short'])
    } finally {
      await reg.close()
    }
  })
})

describe('an interrupted scrub pass resumes', () => {
  it('resumes after the last repository done, in a new run on the same storage', async () => {
    const root = await freshRoot()
    const repos = ['r1', 'r2', 'r3', 'r4']
    const images = repos.map((r, i) => sizedImage(r, [(i + 1) * 16 * KiB]))
    const bytesOf = (from: number, to: number) =>
      images.slice(from, to).reduce((n, image) => n + imageBytes(image), 0)
    let reg = await inMemoryRegistry({ root })
    let first
    try {
      await pushAll(
        reg.request,
        repos.map((r, i) => [r, images[i], 'v1']),
      )
      const scrubber = scrubberOn(reg.storage)
      let stop = false
      const seen: string[] = []
      first = await scrubber.runPass(
        () => stop,
        (result) => {
          seen.push(result.repo)
          stop = true // a shutdown right after the first repository
        },
      )
      assert.deepEqual(seen, ['r1'])
      assert.equal(first.complete, false)
      assert.equal(first.repositories, 1)
      assert.equal(first.bytesHashed, bytesOf(0, 1))
      assert.equal(scrubber.interrupted(), true)
      // No completed pass yet; the interrupted one is shown as such.
      const status = scrubber.lastReport()
      assert.equal(status.running, false)
      assert.equal(status.report, undefined)
      assert.equal(status.interrupted?.repositories, 1)
      assert.equal(status.interrupted?.complete, false)
      assert.equal(scrubber.counters.passes, 0)
    } finally {
      await reg.close()
    }

    reg = await inMemoryRegistry({ root })
    try {
      const logs: LogLine[] = []
      const scrubber = scrubberOn(reg.storage, { logs })
      assert.equal(scrubber.interrupted(), true, 'the progress survived the restart')
      const seen: string[] = []
      const final = await scrubber.runPass(undefined, (result) => seen.push(result.repo))
      assert.deepEqual(seen, ['r2', 'r3', 'r4'], 'r1 is not scrubbed again')
      assert.equal(scrubber.counters.bytesHashed, bytesOf(1, 4), 'this run hashed only the rest')
      assert.deepEqual(logs[0], { msg: 'scrub pass resuming', fields: { after: 'r1' } })
      assert.equal(final.complete, true)
      assert.equal(final.startedAt, first.startedAt, 'one pass, begun before the restart')
      assert.equal(final.repositories, 4)
      assert.equal(final.images, 4)
      assert.equal(final.ok, 4)
      assert.equal(final.bytesHashed, bytesOf(0, 4))
      assert.equal(scrubber.interrupted(), false)
      assert.deepEqual(scrubber.lastReport(), { running: false, report: final })
      // The pass after a finished one starts from the first repository again.
      const again: string[] = []
      await scrubber.runPass(undefined, (result) => again.push(result.repo))
      assert.deepEqual(again, repos)
    } finally {
      await reg.close()
    }
  })
})

describe('GET /v2/_outpost/scrub', () => {
  it('serves the last report of a server with scrub enabled, and counters grow', async () => {
    const server = await socketServer(
      await freshRoot(),
      {},
      {
        scrub: { enabled: true, intervalMs: 3_600_000 },
      },
    )
    try {
      const request = overHttp(server.url)
      const image = makeImage('served', 2)
      await pushAll(request, [
        ['web', image, 'v1'],
        ['web-copy', image, 'v1'],
      ])
      const status = async () => {
        const res = await request('/v2/_outpost/scrub')
        assert.equal(res.status, 200)
        assert.match(res.headers.get('content-type') ?? '', /^application\/json/)
        return (await res.json()) as { enabled: boolean; running: boolean; report?: any }
      }
      assert.deepEqual(await status(), { enabled: true, running: false }, 'no pass yet')
      const scrubber = server.upkeep.scrubber!
      assert.ok(scrubber, 'a scrubber exists when scrub is enabled')

      await scrubber.runPass()
      const clean = await status()
      assert.equal(clean.running, false)
      assert.equal(clean.report.complete, true)
      assert.equal(clean.report.repositories, 2)
      assert.equal(clean.report.images, 2)
      assert.equal(clean.report.ok, 2)
      assert.equal(clean.report.affectedCount, 0)
      assert.equal(clean.report.bytesHashed, imageBytes(image), 'linked copies hashed once')
      assert.ok(Date.parse(clean.report.endedAt) >= Date.parse(clean.report.startedAt))
      assert.deepEqual(scrubber.counters, {
        passes: 1,
        bytesHashed: imageBytes(image),
        affected: 0,
      })

      const layer = sha256(image.layers[1])
      await flipByte(blobPath(server.root, 'web', layer), 1)
      await scrubber.runPass()
      const damaged = await status()
      assert.equal(damaged.report.affectedCount, 2)
      assert.deepEqual(
        damaged.report.affected.map((a: ScrubItem) => [a.repo, a.tag, a.blob]),
        [
          ['web', 'v1', layer],
          ['web-copy', 'v1', layer],
        ],
      )
      assert.equal(scrubber.counters.passes, 2)
      assert.equal(scrubber.counters.affected, 2)
      assert.ok(scrubber.counters.bytesHashed > imageBytes(image))
      await assertBlobUnknown(request, 'web-copy', layer)
    } finally {
      await server.close()
    }
  })

  it('answers {enabled: false} when scrub is off', async () => {
    const server = await socketServer(await freshRoot())
    try {
      assert.equal(server.upkeep.scrubber, undefined)
      const res = await fetch(`${server.url}/v2/_outpost/scrub`)
      assert.equal(res.status, 200)
      assert.deepEqual(await res.json(), { enabled: false })
    } finally {
      await server.close()
    }
  })

  it('shows a pass as running while the budget holds it back', async () => {
    const reg = await inMemoryRegistry({ root: await freshRoot() })
    try {
      await pushAll(reg.request, [['held', makeImage('held', 1), 'v1']])
      let busy = true
      const budget = new Budget({
        settings: { cpuPercent: 50, minFreeMemory: 0, ioRate: Infinity },
        sampler: {
          sample: async () => ({ othersCpuPercent: busy ? 95 : 5, availableMemory: 1e12 }),
        },
        sampleEveryMs: 0,
        pauseStepMs: 5,
      })
      const scrubber = scrubberOn(reg.storage, { budget })
      const app = createApp({
        registry: reg.storage.registry,
        logger: silentLogger,
        scrubStatus: () => scrubber.lastReport(),
      })
      const pass = scrubber.runPass()
      const during = (await (await app.request('/v2/_outpost/scrub')).json()) as any
      assert.equal(during.enabled, true)
      assert.equal(during.running, true)
      assert.equal(during.report.complete, false)
      while (budget.counters.throttles.cpu === 0) await new Promise((r) => setTimeout(r, 5))
      assert.equal(scrubber.lastReport().running, true, 'paused, not finished')
      busy = false
      const report = await pass
      const doneStatus = (await (await app.request('/v2/_outpost/scrub')).json()) as any
      assert.equal(doneStatus.running, false)
      assert.deepEqual(doneStatus.report, JSON.parse(JSON.stringify(report)))
      assert.equal(report.ok, 1)
    } finally {
      await reg.close()
    }
  })
})
