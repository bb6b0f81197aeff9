// `outpost gc <config> [--dry-run]`: one offline pass against a storage, printing what was (or
// would be) removed and the bytes freed; refused while a server holds the storage.
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import { pushBlob } from './helpers/api.js'
import { catalog, pullWhole } from './helpers/gc.js'
import {
  childServer,
  inMemoryRegistry,
  layoutFiles,
  makeImage,
  pushImage,
  scratchDirs,
  sha256,
  type TestImage,
} from './helpers/harness.js'
import { runOutpost } from './helpers/outpost-cli.js'

const dir = scratchDirs()

async function configFile(storage: Record<string, unknown>): Promise<string> {
  const file = join(await dir('outpost-gc-config-'), 'config.json')
  await writeFile(file, JSON.stringify({ storage }))
  return file
}

const bytesOf = (blobs: Buffer[]) => blobs.reduce((n, b) => n + b.length, 0)
const blobsOf = (image: TestImage) => [image.manifest, image.config, ...image.layers]

interface Garbage {
  root: string
  kept: TestImage
  /** what a pass at gcDelay 0 removes from `app`, and from `gone` (emptied) */
  app: { manifest: string; blobs: Buffer[] }
  gone: { manifest: string; blobs: Buffer[] }
}

/** A root with a tagged image to keep, and one of each kind of garbage. */
async function storageWithGarbage(): Promise<Garbage> {
  const root = await dir()
  const reg = await inMemoryRegistry({ root })
  try {
    const kept = makeImage('kept', 2)
    assert.equal((await pushImage(reg.request, 'app', kept, 'v1')).status, 201)
    const untagged = makeImage('untagged', 1)
    assert.equal((await pushImage(reg.request, 'app', untagged, untagged.digest)).status, 201)
    const orphan = Buffer.from('an orphan blob nobody references')
    await pushBlob(reg.request, 'app', orphan)
    const gone = makeImage('gone', 1)
    assert.equal((await pushImage(reg.request, 'gone', gone, 'v1')).status, 201)
    const del = await reg.request('/v2/gone/manifests/v1', { method: 'DELETE' })
    assert.equal(del.status, 202)
    return {
      root,
      kept,
      app: { manifest: untagged.digest, blobs: [...blobsOf(untagged), orphan] },
      gone: { manifest: gone.digest, blobs: blobsOf(gone) },
    }
  } finally {
    await reg.close()
  }
}

/** The lines a pass prints for one repository. */
function expectRepoReport(stdout: string, repo: string, verb: string, garbage: Garbage['app']) {
  const n = garbage.blobs.length
  assert.ok(
    stdout.includes(`${repo}: ${verb} 1 manifests, ${n} blobs, ${bytesOf(garbage.blobs)} bytes\n`),
    stdout,
  )
  assert.ok(stdout.includes(`  manifest ${garbage.manifest}\n`), stdout)
  for (const blob of garbage.blobs) assert.ok(stdout.includes(`  blob ${sha256(blob)}\n`), stdout)
}

describe('outpost gc', () => {
  let g: Garbage
  let config: string
  before(async () => {
    g = await storageWithGarbage()
    config = await configFile({ rootDirectory: g.root, gcDelay: '0s' })
  })

  it('--dry-run prints what would be removed and the bytes, and removes nothing', async () => {
    const before = await layoutFiles(g.root)
    const r = await runOutpost(['gc', config, '--dry-run'])
    assert.equal(r.code, 0, r.stderr)
    expectRepoReport(r.stdout, 'app', 'would remove', g.app)
    expectRepoReport(r.stdout, 'gone', 'would remove', g.gone)
    const blobs = g.app.blobs.length + g.gone.blobs.length
    const bytes = bytesOf([...g.app.blobs, ...g.gone.blobs])
    assert.match(
      r.stdout,
      new RegExp(
        `^dry run: 2 repositories, would remove 2 manifests and ${blobs} blobs, ${bytes} bytes would be freed`,
        'm',
      ),
    )
    assert.doesNotMatch(r.stdout, /repository removed/)
    assert.deepEqual(await layoutFiles(g.root), before)
  })

  it('removes, and prints the same counts', async () => {
    const before = await layoutFiles(g.root)
    const r = await runOutpost(['gc', config])
    assert.equal(r.code, 0, r.stderr)
    expectRepoReport(r.stdout, 'app', 'removed', g.app)
    expectRepoReport(r.stdout, 'gone', 'removed', g.gone)
    assert.match(r.stdout, /^gone: repository removed \(empty\)$/m)
    const blobs = g.app.blobs.length + g.gone.blobs.length
    const bytes = bytesOf([...g.app.blobs, ...g.gone.blobs])
    assert.match(
      r.stdout,
      new RegExp(
        `^2 repositories, removed 2 manifests and ${blobs} blobs, ${bytes} bytes freed`,
        'm',
      ),
    )
    const left = await layoutFiles(g.root)
    const removed = before.filter((f) => !left.includes(f))
    for (const blob of g.app.blobs)
      assert.ok(removed.includes(`app/blobs/sha256/${sha256(blob).slice(7)}`), `${removed}`)
    assert.ok(!left.some((f) => f.startsWith('gone/')), `${left}`)

    const reg = await inMemoryRegistry({ root: g.root })
    try {
      assert.deepEqual(await catalog(reg.request), ['app'])
      assert.deepEqual((await pullWhole(reg.request, 'app', 'v1')).bytes, g.kept.manifest)
    } finally {
      await reg.close()
    }

    const again = await runOutpost(['gc', config])
    assert.equal(again.code, 0, again.stderr)
    assert.match(again.stdout, /^1 repositories, removed 0 manifests and 0 blobs, 0 bytes freed/m)
  })

  it('with retention.dryRun, reports the manifests retention would remove and keeps them', async () => {
    const garbage = await storageWithGarbage()
    const file = await configFile({
      rootDirectory: garbage.root,
      gcDelay: '0s',
      retention: { dryRun: true },
    })
    const r = await runOutpost(['gc', file])
    assert.equal(r.code, 0, r.stderr)
    for (const digest of [garbage.app.manifest, garbage.gone.manifest])
      assert.ok(
        r.stdout.includes(`  manifest ${digest} kept: retention dry run would remove it\n`),
        r.stdout,
      )
    const orphan = garbage.app.blobs[garbage.app.blobs.length - 1]
    assert.ok(
      r.stdout.includes(`app: removed 0 manifests, 1 blobs, ${orphan.length} bytes\n`),
      r.stdout,
    )
    assert.match(r.stdout, /^2 repositories, removed 0 manifests and 1 blobs/m)

    const reg = await inMemoryRegistry({ root: garbage.root })
    try {
      assert.deepEqual(await catalog(reg.request), ['app', 'gone'])
      await pullWhole(reg.request, 'app', garbage.app.manifest)
      await pullWhole(reg.request, 'gone', garbage.gone.manifest)
    } finally {
      await reg.close()
    }
  })

  it('refuses while a server holds the storage (exit 1, "in use"), and touches nothing', async () => {
    const garbage = await storageWithGarbage()
    const file = await configFile({ rootDirectory: garbage.root, gcDelay: '0s' })
    const server = await childServer(garbage.root, { gc: false })
    try {
      const before = await layoutFiles(garbage.root)
      for (const args of [
        ['gc', file],
        ['gc', file, '--dry-run'],
      ]) {
        const r = await runOutpost(args)
        assert.equal(r.code, 1, r.stdout + r.stderr)
        assert.match(r.stderr, /storage is in use by serve/)
        assert.deepEqual(await layoutFiles(garbage.root), before)
      }
    } finally {
      await server.kill('SIGTERM')
    }
    // Once the server has stopped, the same command runs.
    const r = await runOutpost(['gc', file])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /removed 2 manifests/)
  })

  it('exits 2 on a bad config, a missing file, or wrong arguments', async () => {
    const root = await dir()
    const bad = await configFile({ rootDirectory: root, gcDelay: 'soon' })
    const r = await runOutpost(['gc', bad])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /invalid configuration/)
    assert.match(r.stderr, /storage\.gcDelay/)

    const missing = await runOutpost(['gc', join(root, 'no-such-config.json')])
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /cannot read/)

    const none = await runOutpost(['gc'])
    assert.equal(none.code, 2)
    assert.match(none.stderr, /gc takes exactly one config file/)
    assert.deepEqual(await layoutFiles(root), [])
  })
})
