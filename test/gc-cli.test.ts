// `outpost gc [config] [--dry-run]`: one offline pass against a storage, printing what was (or
// would be) removed and the bytes freed; refused while a server holds the storage, except
// --dry-run, which writes nothing and lists what the real pass then removes.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import { pushBlob } from './helpers/api.js'
import { catalog, pullWhole } from './helpers/gc.js'
import {
  childServer,
  inMemoryRegistry,
  layoutFiles,
  listFiles,
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
/** A manifest removed is listed once, as a manifest: its blobs are its config and layers. */
const blobsOf = (image: TestImage) => [image.config, ...image.layers]

interface Removed {
  manifest: string
  /** the blobs listed besides the manifest */
  blobs: Buffer[]
  /** the bytes freed: the manifest's and the blobs' */
  bytes: number
}

interface Garbage {
  root: string
  kept: TestImage
  /** what a pass at gcDelay 0 removes from `app`, and from `gone` (emptied) */
  app: Removed
  gone: Removed
}

/** A root with a tagged image to keep, and one of each kind of garbage. */
async function storageWithGarbage(at?: string): Promise<Garbage> {
  const root = at ?? (await dir())
  await mkdir(root, { recursive: true })
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
    const removed = (image: TestImage, extra: Buffer[] = []): Removed => {
      const blobs = [...blobsOf(image), ...extra]
      return { manifest: image.digest, blobs, bytes: image.manifest.length + bytesOf(blobs) }
    }
    return { root, kept, app: removed(untagged, [orphan]), gone: removed(gone) }
  } finally {
    await reg.close()
  }
}

/** The lines a pass prints for one repository. */
function expectRepoReport(stdout: string, repo: string, verb: string, garbage: Removed) {
  const n = garbage.blobs.length
  assert.ok(
    stdout.includes(`${repo}: ${verb} 1 manifests, ${n} blobs, ${garbage.bytes} bytes\n`),
    stdout,
  )
  assert.ok(stdout.includes(`  manifest ${garbage.manifest}\n`), stdout)
  // The manifest is not listed (or counted) again as a blob.
  assert.ok(!stdout.includes(`  blob ${garbage.manifest}\n`), stdout)
  for (const blob of garbage.blobs) assert.ok(stdout.includes(`  blob ${sha256(blob)}\n`), stdout)
}

/** A pass's listing, the dry run's wording made the real pass's, without the timed summary. */
function listing(stdout: string): string[] {
  return stdout
    .replaceAll('would be removed', 'removed')
    .replaceAll('would remove', 'removed')
    .split('\n')
    .filter((line) => line !== '' && !/bytes (would be )?freed/.test(line))
}

/** Every file under `root` with its size, mtime and hash, LMDB's reader table aside. */
async function snapshot(root: string): Promise<string[]> {
  const out: string[] = []
  // lock.mdb is LMDB's shared reader table: a read-only reader registers there (LMDB's
  // coordination, not data); the index's data.mdb is compared like every other file.
  for (const f of (await listFiles(root)).filter((f) => !f.endsWith('/lock.mdb'))) {
    const info = await stat(join(root, f))
    const hash = createHash('sha256')
      .update(await readFile(join(root, f)))
      .digest('hex')
    out.push(`${f} ${info.size} ${info.mtimeMs} ${hash}`)
  }
  return out
}

describe('outpost gc', () => {
  let g: Garbage
  let config: string
  before(async () => {
    g = await storageWithGarbage()
    config = await configFile({ rootDirectory: g.root, gcDelay: '0s' })
  })

  it('--dry-run prints what would be removed and the bytes, and writes nothing', async () => {
    const before = await snapshot(g.root)
    const r = await runOutpost(['gc', config, '--dry-run'])
    assert.equal(r.code, 0, r.stderr)
    expectRepoReport(r.stdout, 'app', 'would remove', g.app)
    expectRepoReport(r.stdout, 'gone', 'would remove', g.gone)
    assert.match(r.stdout, /^gone: repository would be removed \(empty\)$/m)
    const blobs = g.app.blobs.length + g.gone.blobs.length
    const bytes = g.app.bytes + g.gone.bytes
    assert.match(
      r.stdout,
      new RegExp(
        `^dry run: 2 repositories, would remove 2 manifests and ${blobs} blobs, ${bytes} bytes would be freed`,
        'm',
      ),
    )
    // Nothing at all: not the layout, not the engine index, no lock or clean-stop marker.
    assert.deepEqual(await snapshot(g.root), before)
  })

  it('removes, and prints the same counts and the listing the dry run printed', async () => {
    const dry = await runOutpost(['gc', config, '--dry-run'])
    assert.equal(dry.code, 0, dry.stderr)
    const before = await layoutFiles(g.root)
    const r = await runOutpost(['gc', config])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(listing(r.stdout), listing(dry.stdout))
    expectRepoReport(r.stdout, 'app', 'removed', g.app)
    expectRepoReport(r.stdout, 'gone', 'removed', g.gone)
    assert.match(r.stdout, /^gone: repository removed \(empty\)$/m)
    const blobs = g.app.blobs.length + g.gone.blobs.length
    const bytes = g.app.bytes + g.gone.bytes
    assert.match(
      r.stdout,
      new RegExp(
        `^2 repositories, removed 2 manifests and ${blobs} blobs, ${bytes} bytes freed`,
        'm',
      ),
    )
    const left = await layoutFiles(g.root)
    const removed = before.filter((f) => !left.includes(f))
    for (const digest of [g.app.manifest, ...g.app.blobs.map(sha256)])
      assert.ok(removed.includes(`app/blobs/sha256/${digest.slice(7)}`), `${removed}`)
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
    let dry
    try {
      const before = await layoutFiles(garbage.root)
      const r = await runOutpost(['gc', file])
      assert.equal(r.code, 1, r.stdout + r.stderr)
      assert.match(r.stderr, /storage is in use by serve/)
      assert.deepEqual(await layoutFiles(garbage.root), before)
      // --dry-run takes no lock and writes nothing, so it runs beside the server.
      dry = await runOutpost(['gc', file, '--dry-run'])
      assert.equal(dry.code, 0, dry.stdout + dry.stderr)
      expectRepoReport(dry.stdout, 'app', 'would remove', garbage.app)
      assert.match(dry.stdout, /^gone: repository would be removed \(empty\)$/m)
      assert.deepEqual(await layoutFiles(garbage.root), before)
    } finally {
      await server.kill('SIGTERM')
    }
    // Once the server has stopped, the same command runs, and removes what the dry run listed.
    const r = await runOutpost(['gc', file])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /removed 2 manifests/)
    assert.deepEqual(listing(r.stdout), listing(dry.stdout))
  })

  it('without a config file works on ./data, as serve does; no ./data: exit 1, nothing made', async () => {
    const cwd = await dir('outpost-gc-cwd-')
    const none = await runOutpost(['gc', '--dry-run'], cwd)
    assert.equal(none.code, 1, none.stdout + none.stderr)
    assert.match(none.stderr, /data does not exist: without a config file, gc works on \.\/data/)
    assert.deepEqual(await listFiles(cwd), [])

    await storageWithGarbage(join(cwd, 'data'))
    // The zero-config default's gcDelay is 1h: the fresh garbage is too young to go, but both
    // repositories of ./data are looked at.
    for (const args of [['gc', '--dry-run'], ['gc']]) {
      const r = await runOutpost(args, cwd)
      assert.equal(r.code, 0, r.stderr)
      assert.match(
        r.stdout,
        /^(dry run: )?2 repositories, (would remove|removed) 0 manifests and 0 blobs/m,
      )
    }
    const scrub = await runOutpost(['scrub'], cwd)
    assert.equal(scrub.code, 0, scrub.stderr)
    assert.match(scrub.stdout, /^3 images in 2 repositories, 3 ok, 0 problems/m)
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

    const two = await runOutpost(['gc', bad, bad])
    assert.equal(two.code, 2)
    assert.match(two.stderr, /gc takes at most one config file/)
    assert.deepEqual(await layoutFiles(root), [])
  })
})
