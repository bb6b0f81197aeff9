// Garbage collection (docs/architecture.md §5.6), driven by an injected ManualClock: each kind of
// garbage goes once older than its delay, and nothing referenced, young or in flight ever does.
import { collectGarbage } from '../src/gc/index.js'
import assert from 'node:assert/strict'
import { rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import type { GcPassResult } from '../src/gc/index.js'
import { ManualClock } from '../src/util/clock.js'
import {
  artifactManifest,
  imageManifest,
  indexOf,
  MT,
  openSession,
  pushBlob,
  putManifest,
  withQuery,
  type Stored,
} from './helpers/api.js'
import {
  blobStatus,
  catalog,
  collectorFor,
  DAY,
  gcPolicy,
  HOUR,
  links,
  manifestStatus,
  MINUTE,
  pullWhole,
  push,
} from './helpers/gc.js'
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

const roots: string[] = []
after(async () => {
  for (const r of roots) await removeDir(r)
})

/** A registry on a fresh root whose clock the test moves; closed when `body` ends. */
async function withRegistry(
  body: (reg: InMemoryRegistry, clock: ManualClock) => Promise<void>,
  clock = new ManualClock(),
): Promise<void> {
  const root = await tempDir()
  roots.push(root)
  const reg = await inMemoryRegistry({ root, clock })
  try {
    await body(reg, clock)
  } finally {
    await reg.close()
  }
}

/** PUT a manifest document under `ref`; fails the test unless it is stored. */
async function store(
  reg: InMemoryRegistry,
  repo: string,
  ref: string,
  doc: Stored,
  type: string = MT.ociManifest,
) {
  const res = await putManifest(reg.request, repo, ref, doc.bytes, type)
  assert.equal(res.status, 201, await res.text())
}

describe('gc: blobs', () => {
  it('removes unreferenced blobs older than gcDelay, keeps younger ones and referenced ones', () =>
    withRegistry(async (reg, clock) => {
      const gc = collectorFor(reg.storage.registry) // gcDelay defaults to 1h
      const image = await push(reg, 'app', 'tagged', 'v1', 2)
      const old = Buffer.from('orphan pushed first')
      await pushBlob(reg.request, 'app', old)
      clock.advance(30 * MINUTE)
      const young = Buffer.from('orphan pushed 30 minutes later')
      await pushBlob(reg.request, 'app', young)
      clock.advance(31 * MINUTE)

      const pass = await gc.runPass()
      assert.deepEqual(
        pass.details.map((d) => d.blobs),
        [[sha256(old)]],
      )
      assert.equal(pass.bytes, old.length)
      assert.equal(await blobStatus(reg.request, 'app', sha256(old)), 404)
      assert.equal(await blobStatus(reg.request, 'app', sha256(young)), 200)
      // The tagged image's config, layers and manifest are older still, and all stay.
      const pulled = await pullWhole(reg.request, 'app', 'v1')
      assert.deepEqual(pulled.bytes, image.manifest)
      assert.deepEqual(pulled.blobs, [image.config, ...image.layers].map(sha256))

      clock.advance(30 * MINUTE)
      const second = await gc.runPass()
      assert.deepEqual(
        second.details.map((d) => d.blobs),
        [[sha256(young)]],
      )
      assert.equal(await blobStatus(reg.request, 'app', sha256(young)), 404)
      await pullWhole(reg.request, 'app', 'v1')
      assert.equal(gc.counters.passes, 2)
      assert.equal(gc.counters.blobsRemoved, 2)
      assert.equal(gc.counters.bytesFreed, old.length + young.length)
    }))

  it('keeps an index and both child manifests pushed by digest, and their blobs', () =>
    withRegistry(async (reg, clock) => {
      const gc = collectorFor(reg.storage.registry)
      const children = []
      for (const seed of ['amd64', 'arm64']) {
        const child = await imageManifest(reg.request, 'multi', seed, { layers: 2 })
        await store(reg, 'multi', child.desc.digest, child)
        children.push(child.desc)
      }
      const index = indexOf(children)
      await store(reg, 'multi', 'latest', index, MT.ociIndex)
      clock.advance(DAY)

      const pass = await gc.runPass()
      assert.equal(pass.manifests, 0)
      assert.equal(pass.blobs, 0)
      const pulled = await pullWhole(reg.request, 'multi', 'latest')
      assert.equal(pulled.blobs.length, 6) // two configs, four layers

      // Untag the index: it, its children and every blob go (nothing else holds them).
      const del = await reg.request('/v2/multi/manifests/latest', { method: 'DELETE' })
      assert.equal(del.status, 202)
      const after = await gc.runPass()
      assert.deepEqual(
        [...after.details[0].manifests].sort(),
        [index.desc.digest, ...children.map((c) => c.digest)].sort(),
      )
      // Six blobs: the three manifests are listed (and counted) once, as manifests.
      assert.equal(after.blobs, 6)
      for (const digest of [index.desc.digest, ...pulled.blobs])
        assert.equal(await blobStatus(reg.request, 'multi', digest), 404)
      assert.deepEqual(after.removedRepositories, ['multi'])
    }))

  it('counts a blob from when it entered this repository, not the file (a mount is new)', () =>
    withRegistry(async (reg, clock) => {
      const gc = collectorFor(reg.storage.registry)
      const shared = Buffer.from('pushed to src long ago, mounted into dst just now')
      const digest = await pushBlob(reg.request, 'src', shared)
      clock.advance(2 * HOUR)
      const mount = await reg.request(`/v2/dst/blobs/uploads/?mount=${digest}&from=src`, {
        method: 'POST',
      })
      assert.equal(mount.status, 201)
      assert.equal(await links(reg.root, 'dst', digest), 2) // one inode, two names

      const pass = await gc.runPass()
      assert.deepEqual(
        pass.details.map((d) => [d.repo, d.blobs]),
        [['src', [digest]]],
      )
      assert.equal(pass.bytes, 0, 'dst still links the bytes: removing src frees nothing')
      const got = await reg.request(`/v2/dst/blobs/${digest}`)
      assert.deepEqual(Buffer.from(await got.arrayBuffer()), shared)
      assert.equal(await links(reg.root, 'dst', digest), 1)

      clock.advance(HOUR)
      const later = await gc.runPass()
      assert.deepEqual(
        later.details.map((d) => [d.repo, d.blobs, d.bytes]),
        [['dst', [digest], shared.length]],
      )
    }))

  it('never lets a delete or GC in one repository touch another holding the same content', () =>
    withRegistry(async (reg, clock) => {
      const gc = collectorFor(reg.storage.registry)
      const image = await push(reg, 'one', 'shared', 'v1', 2)
      await push(reg, 'two', 'shared', 'v1', 2)
      const layer = sha256(image.layers[0])
      assert.equal(await links(reg.root, 'two', layer), 2, 'dedupe: the second push linked')

      // In `one`: drop the manifest, then delete a layer by hand.
      assert.equal(
        (await reg.request(`/v2/one/manifests/${image.digest}`, { method: 'DELETE' })).status,
        202,
      )
      assert.equal((await reg.request(`/v2/one/blobs/${layer}`, { method: 'DELETE' })).status, 202)
      assert.equal(await blobStatus(reg.request, 'one', layer), 404)
      assert.deepEqual((await pullWhole(reg.request, 'two', 'v1')).bytes, image.manifest)
      assert.equal(await links(reg.root, 'two', layer), 1)

      // GC collects the rest of `one`; `two` keeps every byte.
      clock.advance(2 * HOUR)
      const pass = await gc.runPass()
      assert.deepEqual(pass.removedRepositories, ['one'])
      assert.equal(pass.blobs, 3) // manifest, config, second layer
      assert.equal(pass.bytes, 0, 'all of it is still linked from two')
      assert.deepEqual(await catalog(reg.request), ['two'])
      const pulled = await pullWhole(reg.request, 'two', 'v1')
      assert.deepEqual(pulled.bytes, image.manifest)
      for (const digest of [image.digest, ...pulled.blobs])
        assert.equal(await links(reg.root, 'two', digest), 1)
    }))

  it('never collects an upload session, even at gcDelay 0; finishing it works', () =>
    withRegistry(async (reg, clock) => {
      const image = await push(reg, 'busy', 'gone soon', 'v1')
      const session = await openSession(reg.request, 'busy')
      const bytes = Buffer.from('the first half of a blob and then the second half')
      const first = await reg.request(session, { method: 'PATCH', body: bytes.subarray(0, 20) })
      assert.equal(first.status, 202)
      // The only image goes; the repository would be empty but for the session.
      assert.equal((await reg.request('/v2/busy/manifests/v1', { method: 'DELETE' })).status, 202)
      clock.advance(DAY)

      const pass = await collectGarbage(
        reg.storage.registry,
        'busy',
        gcPolicy({ delayMs: 0, manifestDelayMs: 0 }),
      )
      assert.equal(pass.manifests.length, 1)
      assert.equal(pass.blobs.length, 1 + image.layers.length) // the manifest is not a blob here
      assert.equal(pass.repositoryRemoved, false, 'an open session keeps the repository')
      const status = await reg.request(session)
      assert.equal(status.status, 204)
      assert.equal(status.headers.get('range'), '0-19')

      const second = await reg.request(session, { method: 'PATCH', body: bytes.subarray(20) })
      assert.equal(second.status, 202)
      const done = await reg.request(
        withQuery(second.headers.get('location')!, `digest=${sha256(bytes)}`),
        {
          method: 'PUT',
        },
      )
      assert.equal(done.status, 201, await done.text())
      const got = await reg.request(`/v2/busy/blobs/${sha256(bytes)}`)
      assert.deepEqual(Buffer.from(await got.arrayBuffer()), bytes)
      assert.deepEqual(await catalog(reg.request), ['busy'])
    }))
})

describe('gc: manifests', () => {
  it('removes untagged manifests once older than the retention delay, keeps young ones', () =>
    withRegistry(async (reg, clock) => {
      const gc = collectorFor(reg.storage.registry)
      const first = await push(reg, 'app', 'first', 'v1')
      const second = await push(reg, 'app', 'second', 'v1') // first is now untagged
      const loose = makeImage('by digest only', 1)
      assert.equal((await pushImage(reg.request, 'app', loose, loose.digest)).status, 201)
      clock.advance(30 * MINUTE)

      const early = await gc.runPass()
      assert.equal(early.manifests + early.blobs, 0, 'nothing is an hour old yet')
      assert.equal(await manifestStatus(reg.request, 'app', first.digest), 200)

      clock.advance(31 * MINUTE)
      const pass = await gc.runPass()
      assert.deepEqual([...pass.details[0].manifests].sort(), [first.digest, loose.digest].sort())
      for (const image of [first, loose]) {
        assert.equal(await manifestStatus(reg.request, 'app', image.digest), 404)
        for (const blob of [image.manifest, image.config, ...image.layers])
          assert.equal(await blobStatus(reg.request, 'app', sha256(blob)), 404)
      }
      assert.deepEqual((await pullWhole(reg.request, 'app', 'v1')).bytes, second.manifest)
    }))

  it('keeps untagged manifests (and their blobs) when the policy says deleteUntagged: false', () =>
    withRegistry(async (reg, clock) => {
      const gc = collectorFor(reg.storage.registry, {
        retention: { policies: [{ repositories: ['**'], deleteUntagged: false }] },
      })
      const first = await push(reg, 'app', 'first', 'v1')
      await push(reg, 'app', 'second', 'v1')
      clock.advance(DAY)
      const pass = await gc.runPass()
      assert.equal(pass.manifests + pass.blobs, 0)
      assert.deepEqual((await pullWhole(reg.request, 'app', first.digest)).bytes, first.manifest)
    }))

  it('retention dryRun reports untagged manifests but keeps them and their blobs', () =>
    withRegistry(async (reg, clock) => {
      const logged: Array<[string, Record<string, unknown> | undefined]> = []
      const gc = collectorFor(reg.storage.registry, { retention: { dryRun: true } }, (msg, f) =>
        logged.push([msg, f]),
      )
      const first = await push(reg, 'app', 'first', 'v1')
      await push(reg, 'app', 'second', 'v1')
      const orphan = await pushBlob(reg.request, 'app', Buffer.from('really unreferenced'))
      clock.advance(DAY)
      const pass = await gc.runPass()
      assert.deepEqual(pass.details[0].retainedByDryRun, [first.digest], 'reported')
      assert.deepEqual(pass.details[0].manifests, [], 'not counted as removed')
      assert.equal(gc.counters.manifestsRemoved, 0)
      assert.ok(
        logged.some(
          ([msg, f]) => /retention dry run/.test(msg) && String(f?.manifests) === first.digest,
        ),
        JSON.stringify(logged),
      )
      assert.deepEqual(pass.details[0].blobs, [orphan], 'plain GC of blobs still happens')
      assert.deepEqual((await pullWhole(reg.request, 'app', first.digest)).bytes, first.manifest)
      await pullWhole(reg.request, 'app', 'v1')
    }))

  it('keeps referrers of a live subject', () =>
    withRegistry(async (reg, clock) => {
      const gc = collectorFor(reg.storage.registry)
      const subject = await imageManifest(reg.request, 'app', 'subject')
      await store(reg, 'app', 'v1', subject)
      const sig = await artifactManifest(reg.request, 'app', subject.desc, {
        artifactType: 'application/x-sig',
      })
      await store(reg, 'app', sig.desc.digest, sig)
      clock.advance(DAY)
      const pass = await gc.runPass()
      assert.equal(pass.manifests + pass.blobs, 0)
      await pullWhole(reg.request, 'app', sig.desc.digest)
      const list = (await (
        await reg.request(`/v2/app/referrers/${subject.desc.digest}`)
      ).json()) as {
        manifests: Array<{ digest: string }>
      }
      assert.deepEqual(
        list.manifests.map((m: { digest: string }) => m.digest),
        [sig.desc.digest],
      )
    }))

  it('a referrer never keeps its subject alive: untag the subject and both go', () =>
    withRegistry(async (reg, clock) => {
      const gc = collectorFor(reg.storage.registry)
      await push(reg, 'app', 'unrelated', 'keep')
      const subject = await imageManifest(reg.request, 'app', 'subject')
      await store(reg, 'app', 'v1', subject)
      const sig = await artifactManifest(reg.request, 'app', subject.desc, {
        artifactType: 'application/x-sig',
      })
      await store(reg, 'app', sig.desc.digest, sig)
      assert.equal((await reg.request('/v2/app/manifests/v1', { method: 'DELETE' })).status, 202)
      clock.advance(DAY)

      const pass = await gc.runPass()
      assert.deepEqual(
        [...pass.details[0].manifests].sort(),
        [subject.desc.digest, sig.desc.digest].sort(),
      )
      assert.equal(await manifestStatus(reg.request, 'app', subject.desc.digest), 404)
      assert.equal(await manifestStatus(reg.request, 'app', sig.desc.digest), 404)
      const list = (await (
        await reg.request(`/v2/app/referrers/${subject.desc.digest}`)
      ).json()) as {
        manifests: Array<{ digest: string }>
      }
      assert.deepEqual(list.manifests, [])
      await pullWhole(reg.request, 'app', 'keep')
    }))

  it('keeps a referrer whose subject is gone when deleteReferrers is false', () =>
    withRegistry(async (reg, clock) => {
      const gc = collectorFor(reg.storage.registry, {
        retention: { policies: [{ repositories: ['**'], deleteReferrers: false }] },
      })
      const subject = await imageManifest(reg.request, 'app', 'subject')
      await store(reg, 'app', subject.desc.digest, subject)
      const sig = await artifactManifest(reg.request, 'app', subject.desc, {
        artifactType: 'application/x-sig',
      })
      await store(reg, 'app', sig.desc.digest, sig)
      clock.advance(DAY)

      const pass = await gc.runPass()
      assert.deepEqual(
        pass.details[0].manifests,
        [subject.desc.digest],
        'the untagged subject goes',
      )
      assert.equal(await manifestStatus(reg.request, 'app', subject.desc.digest), 404)
      await pullWhole(reg.request, 'app', sig.desc.digest) // the referrer and its blobs stay
    }))

  it('removes a referrer pushed before its subject once older than the delay (deleteReferrers)', () =>
    withRegistry(async (reg, clock) => {
      const gc = collectorFor(reg.storage.registry)
      const never = {
        mediaType: MT.ociManifest,
        digest: sha256('a subject never pushed'),
        size: 22,
      }
      const sig = await artifactManifest(reg.request, 'app', never, {
        artifactType: 'application/x-sig',
      })
      await store(reg, 'app', sig.desc.digest, sig)
      clock.advance(59 * MINUTE)
      assert.equal((await gc.runPass()).manifests, 0, 'young: its subject may be on its way')
      clock.advance(2 * MINUTE)
      const pass = await gc.runPass()
      assert.deepEqual(pass.details[0].manifests, [sig.desc.digest])
      assert.deepEqual(pass.removedRepositories, ['app'])
    }))
})

describe('gc: repositories, dry run, retention policies', () => {
  it('repositories left empty disappear from _catalog (a nested one stays)', () =>
    withRegistry(async (reg, clock) => {
      const gc = collectorFor(reg.storage.registry)
      for (const repo of ['team', 'team/app', 'solo']) await push(reg, repo, repo, 'v1')
      for (const repo of ['team', 'solo'])
        assert.equal(
          (await reg.request(`/v2/${repo}/manifests/v1`, { method: 'DELETE' })).status,
          202,
        )
      assert.deepEqual(await catalog(reg.request), ['solo', 'team', 'team/app'])
      clock.advance(2 * HOUR)

      const pass = await gc.runPass()
      assert.deepEqual(pass.removedRepositories, ['solo', 'team'])
      assert.deepEqual(await catalog(reg.request), ['team/app'])
      await assert.rejects(stat(join(reg.root, 'solo')), { code: 'ENOENT' })
      await assert.rejects(stat(join(reg.root, 'team', 'index.json')), { code: 'ENOENT' })
      await assert.rejects(stat(join(reg.root, 'team', 'blobs')), { code: 'ENOENT' })
      await pullWhole(reg.request, 'team/app', 'v1')
      const gone = await reg.request('/v2/solo/tags/list')
      assert.equal(gone.status, 404)
    }))

  it('dry run reports what would go and the bytes, and removes nothing', () =>
    withRegistry(async (reg, clock) => {
      const gc = collectorFor(reg.storage.registry)
      await push(reg, 'app', 'kept', 'v1')
      const untagged = makeImage('untagged', 2)
      assert.equal((await pushImage(reg.request, 'app', untagged, untagged.digest)).status, 201)
      const orphan = Buffer.from('orphan')
      await pushBlob(reg.request, 'app', orphan)
      clock.advance(2 * HOUR)
      const before = await layoutFiles(reg.root)

      const dry = await gc.runPass({ dryRun: true })
      const doomed = [untagged.manifest, untagged.config, ...untagged.layers, orphan]
      assert.equal(dry.manifests, 1)
      assert.deepEqual(dry.details[0].manifests, [untagged.digest])
      assert.deepEqual([...dry.details[0].blobs].sort(), doomed.slice(1).map(sha256).sort())
      assert.equal(
        dry.bytes,
        doomed.reduce((n, b) => n + b.length, 0),
      )
      assert.deepEqual(await layoutFiles(reg.root), before)
      assert.equal(gc.counters.passes, 0, 'a dry run is not a pass')
      assert.deepEqual(
        (await pullWhole(reg.request, 'app', untagged.digest)).bytes,
        untagged.manifest,
      )

      const real = await gc.runPass()
      assert.deepEqual(
        [real.manifests, real.blobs, real.bytes],
        [dry.manifests, dry.blobs, dry.bytes],
      )
      assert.equal((await layoutFiles(reg.root)).length, before.length - doomed.length)
      await pullWhole(reg.request, 'app', 'v1')
    }))

  it('retention policies select per repository by glob (team/*, then **; no match keeps)', () =>
    withRegistry(async (reg, clock) => {
      const repos = ['team/a', 'team/x/y', 'other']
      const untagged = new Map<string, string>()
      for (const repo of repos) {
        await push(reg, repo, `${repo} tagged`, 'v1')
        const image = makeImage(`${repo} untagged`)
        assert.equal((await pushImage(reg.request, repo, image, image.digest)).status, 201)
        untagged.set(repo, image.digest)
      }
      clock.advance(DAY)
      const selected = (pass: GcPassResult) => pass.details.map((d) => [d.repo, d.manifests])
      const gc = collectorFor(reg.storage.registry, {
        retention: {
          policies: [
            { repositories: ['team/*'], deleteUntagged: false },
            { repositories: ['**'], deleteUntagged: true },
          ],
        },
      })
      // `*` stays within one component: team/x/y falls through to `**`.
      assert.deepEqual(selected(await gc.runPass({ dryRun: true })), [
        ['other', [untagged.get('other')]],
        ['team/x/y', [untagged.get('team/x/y')]],
      ])

      // zot: a repository that matches no policy keeps everything.
      const narrow = collectorFor(reg.storage.registry, {
        retention: { policies: [{ repositories: ['team/**'], deleteUntagged: true }] },
      })
      assert.deepEqual(selected(await narrow.runPass()), [
        ['team/a', [untagged.get('team/a')]],
        ['team/x/y', [untagged.get('team/x/y')]],
      ])
      assert.equal(await manifestStatus(reg.request, 'other', untagged.get('other')!), 200)
      assert.deepEqual(selected(await gc.runPass()), [['other', [untagged.get('other')]]])
      for (const repo of repos)
        assert.equal(await manifestStatus(reg.request, repo, untagged.get(repo)!), 404)
      for (const repo of repos) await pullWhole(reg.request, repo, 'v1')
    }))
})

describe('gc: time', () => {
  it('a wall-clock jump of a year during a push collects nothing referenced or in flight', () =>
    withRegistry(async (reg, clock) => {
      const gc = collectorFor(reg.storage.registry) // gcDelay 1h
      const stored = await push(reg, 'app', 'stored before', 'v0')
      const image = makeImage('in flight', 2)
      for (const blob of [image.config, ...image.layers]) await pushBlob(reg.request, 'app', blob)
      const session = await openSession(reg.request, 'app')
      assert.equal((await reg.request(session, { method: 'PATCH', body: 'partial' })).status, 202)

      clock.jumpWall(365 * DAY) // NTP sync: wall time leaps, monotonic time does not
      clock.advance(MINUTE)
      const pass = await gc.runPass()
      assert.equal(pass.manifests + pass.blobs, 0, JSON.stringify(pass.details))

      const put = await putManifest(reg.request, 'app', 'v1', image.manifest, image.mediaType)
      assert.equal(put.status, 201, await put.text())
      assert.deepEqual((await pullWhole(reg.request, 'app', 'v1')).bytes, image.manifest)
      assert.deepEqual((await pullWhole(reg.request, 'app', 'v0')).bytes, stored.manifest)
      assert.equal((await reg.request(session)).headers.get('range'), '0-6')
    }))

  it('after a reboot into 1970 (wall clock before every record), records count as new', async () => {
    const clock = new ManualClock()
    const root = await tempDir()
    roots.push(root)
    let reg = await inMemoryRegistry({ root, clock })
    const orphan = await pushBlob(reg.request, 'app', Buffer.from('pushed before the reboot'))
    await push(reg, 'app', 'tagged', 'v1')
    await reg.close()

    clock.reboot('second-boot') // no RTC: the board comes up in 1970
    clock.jumpWall(-clock.wallMs() + 5 * MINUTE)
    reg = await inMemoryRegistry({ root, clock })
    try {
      const gc = collectorFor(reg.storage.registry)
      clock.advance(2 * HOUR)
      const pass = await gc.runPass()
      assert.equal(pass.manifests + pass.blobs, 0, JSON.stringify(pass.details))
      assert.equal(await blobStatus(reg.request, 'app', orphan), 200)

      // NTP syncs: the wall clock is right again, and the old record ages from its wall time.
      clock.jumpWall(Date.UTC(2026, 0, 1) + 3 * HOUR - clock.wallMs())
      const later = await gc.runPass()
      assert.deepEqual(
        later.details.map((d) => d.blobs),
        [[orphan]],
      )
      await pullWhole(reg.request, 'app', 'v1')
    } finally {
      await reg.close()
    }
  })

  it('index loss: after deleting _outpost/index, images pull and unrecorded blobs age from now', async () => {
    const clock = new ManualClock()
    const root = await tempDir()
    roots.push(root)
    let reg = await inMemoryRegistry({ root, clock })
    const images = [
      await push(reg, 'one', 'first', 'v1', 2),
      await push(reg, 'two/deep', 'second', 'v1'),
    ]
    const multi = await imageManifest(reg.request, 'one', 'child')
    await store(reg, 'one', multi.desc.digest, multi)
    const index = indexOf([multi.desc])
    await store(reg, 'one', 'multi', index, MT.ociIndex)
    const orphan = await pushBlob(reg.request, 'one', Buffer.from('orphan before the loss'))
    await reg.close()

    clock.advance(DAY) // were the old records kept, the orphan would be a day old
    await rm(join(root, '_outpost', 'index'), { recursive: true })
    reg = await inMemoryRegistry({ root, clock })
    try {
      assert.equal(reg.storage.db.fresh, true)
      assert.deepEqual((await pullWhole(reg.request, 'one', 'v1')).bytes, images[0].manifest)
      assert.deepEqual((await pullWhole(reg.request, 'two/deep', 'v1')).bytes, images[1].manifest)
      assert.equal((await pullWhole(reg.request, 'one', 'multi')).blobs.length, 2)

      const gc = collectorFor(reg.storage.registry)
      const first = await gc.runPass()
      assert.equal(first.manifests + first.blobs, 0, 'unrecorded blobs count as new')
      clock.advance(HOUR)
      const second = await gc.runPass()
      assert.deepEqual(
        second.details.map((d) => [d.repo, d.blobs]),
        [['one', [orphan]]],
      )
      await pullWhole(reg.request, 'one', 'v1')
      await pullWhole(reg.request, 'one', 'multi')
      await pullWhole(reg.request, 'two/deep', 'v1')
    } finally {
      await reg.close()
    }
  })
})
