// Power cut (docs/architecture.md §5.3). SIGKILL keeps the page cache, so only a file system that
// loses what was not synced can prove fsync: the root lives on an ext4 image on a loop device,
// and `xfs_io -x -c shutdown` stops it without flushing its journal, the way a power cut does.
// With commit=true every push answered 201 must survive; with commit=false pushes may be lost,
// but whatever the registry still answers 200 for must match its digest.
import assert from 'node:assert/strict'
import { mkdir, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import {
  childServer,
  haveCommand,
  makeImage,
  pushImage,
  sha256,
  type ChildServer,
  type TestImage,
} from './helpers/harness.js'
import {
  checkLayout,
  delay,
  fetchChecked,
  LoopMount,
  powerCutUnavailable,
  pullProblems,
  requester,
  type Requester,
} from './helpers/durability.js'

const reason = await powerCutUnavailable(await haveCommand('xfs_io'))

interface Pushed {
  repo: string
  tag: string
  image: TestImage
}

/** Push `count` images from two clients at once; every push must be answered 201. */
async function pushAll(request: Requester, prefix: string, count: number): Promise<Pushed[]> {
  const pushed: Pushed[] = []
  await Promise.all(
    [0, 1].map(async (client) => {
      for (let i = client; i < count; i += 2) {
        const repo = i % 3 === 0 ? 'edge/base' : 'edge/app'
        const tag = `${prefix}-${i}`
        const image = makeImage(tag, 1 + (i % 3))
        const res = await pushImage(request, repo, image, tag)
        assert.equal(res.status, 201, `${repo}:${tag}: ${await res.text()}`)
        pushed.push({ repo, tag, image })
      }
    }),
  )
  return pushed
}

describe('power cut on a loop-mounted ext4 (xfs_io shutdown)', () => {
  const mounts: LoopMount[] = []
  const servers: ChildServer[] = []
  after(async () => {
    for (const server of servers) await server.kill('SIGKILL')
    for (const mount of mounts) await mount.dispose()
  })

  /** Cut the power under a running server, then kill it and mount the disk again. */
  async function cutAndRemount(mount: LoopMount, server: ChildServer): Promise<void> {
    await mount.cut() // at once: no time for writeback
    assert.equal(await server.kill('SIGKILL'), null)
    await mount.umount()
    await mount.mount()
  }

  async function restart(root: string, commit: boolean): Promise<ChildServer> {
    const server = await childServer(root, { commit })
    servers.push(server)
    assert.match(server.output(), /"cleanStart":false/, 'the cut is seen as an unclean stop')
    return server
  }

  it(
    'commit=true: every push answered 201 pulls back byte-identical',
    { skip: reason, timeout: 60_000 },
    async () => {
      const mount = await LoopMount.create()
      mounts.push(mount)
      const root = join(mount.dir, 'registry')
      await mkdir(root)
      const server = await childServer(root, { commit: true })
      servers.push(server)
      const pushed = await pushAll(requester(server.url), 'durable', 10)

      await cutAndRemount(mount, server)
      const report = await checkLayout(root)
      assert.deepEqual(report.problems, [], 'no partial or missing file after the cut')
      const restarted = await restart(root, true)
      const request = requester(restarted.url)
      for (const p of pushed)
        assert.deepEqual(await pullProblems(request, p.repo, p.tag, p.image), [])
      const tags = (await (await request('/v2/edge/app/tags/list')).json()) as { tags: string[] }
      for (const p of pushed.filter((p) => p.repo === 'edge/app'))
        assert.ok(tags.tags.includes(p.tag), p.tag)
    },
  )

  it(
    'commit=false: pushes may be lost, but no 200 ever carries wrong bytes',
    { skip: reason, timeout: 60_000 },
    async (t) => {
      // A 1 s journal commit interval: metadata of the first batch (renames, sizes) reaches the
      // journal before the cut while its data, never synced, may not: the classic zero-length file.
      const mount = await LoopMount.create(256, 'loop,commit=1')
      mounts.push(mount)
      const root = join(mount.dir, 'registry')
      await mkdir(root)
      let server = await childServer(root, { commit: false })
      servers.push(server)
      const early = await pushAll(requester(server.url), 'early', 8)
      // A clean stop, and the operator syncs the disk: the first batch is safe whatever commit says.
      assert.equal(await server.kill('SIGTERM'), 0)
      await mount.sync()
      server = await childServer(root, { commit: false })
      servers.push(server)
      const middle = await pushAll(requester(server.url), 'middle', 8)
      await delay(2500) // several journal commits, far less than the 30 s data writeback delay
      const late = await pushAll(requester(server.url), 'late', 8) // right before the cut

      await cutAndRemount(mount, server)
      const partial = (await checkLayout(root)).problems.filter((p) => p.includes('partial blob'))
      const restarted = await restart(root, false)
      const request = requester(restarted.url)
      assert.equal((await request('/v2/')).status, 200, 'the registry starts after the cut')

      const problems: string[] = []
      const statuses = new Map<string, number>()
      const lost = new Set<string>()
      for (const p of [...early, ...middle, ...late]) {
        const paths: [string, string][] = [
          [`/v2/${p.repo}/manifests/${p.tag}`, p.image.digest],
          [`/v2/${p.repo}/manifests/${p.image.digest}`, p.image.digest],
          ...[p.image.config, ...p.image.layers].map((b): [string, string] => [
            `/v2/${p.repo}/blobs/${sha256(b)}`,
            sha256(b),
          ]),
        ]
        for (const [path, digest] of paths) {
          const status = await fetchChecked(request, path, digest, problems)
          statuses.set(String(status), (statuses.get(String(status)) ?? 0) + 1)
          if (status !== 200) lost.add(`${p.repo}:${p.tag}`)
          if (status !== 200 && status !== 404) problems.push(`${path} answered ${status}`)
        }
      }
      assert.deepEqual(problems, [], 'every 200 matches its digest; anything else is a 404')
      // What was on disk before the cut is re-verified and served.
      for (const p of early)
        assert.deepEqual(await pullProblems(request, p.repo, p.tag, p.image), [])
      const quarantined = await readdir(join(root, '_outpost/quarantine')).catch(() => [])
      const lostOf = (batch: Pushed[]) => batch.filter((p) => lost.has(`${p.repo}:${p.tag}`)).length
      t.diagnostic(
        `lost images: early ${lostOf(early)}/${early.length}, middle ${lostOf(middle)}/${middle.length}, ` +
          `late ${lostOf(late)}/${late.length}; responses ${JSON.stringify(Object.fromEntries(statuses))}; ` +
          `partial blobs on disk after the cut: ${partial.length}; quarantined: ${quarantined.length}`,
      )

      // What was lost can be pushed again, and then pulls back whole.
      const again = [...early, ...middle, ...late].filter((p) => lost.has(`${p.repo}:${p.tag}`))
      for (const p of again) {
        const res = await pushImage(request, p.repo, p.image, p.tag)
        assert.equal(res.status, 201, `re-push ${p.repo}:${p.tag}: ${await res.text()}`)
      }
      for (const p of [...early, ...middle, ...late]) {
        assert.deepEqual(await pullProblems(request, p.repo, p.tag, p.image), [])
      }
    },
  )
})
