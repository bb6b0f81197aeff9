// `outpost scrub <config> [--json]`: one offline pass printing a REPOSITORY TAG STATUS
// AFFECTED-BLOB ERROR table (or JSON), exit 0 when clean and 1 when anything is affected; it
// refuses while a server holds the storage.
import assert from 'node:assert/strict'
import { access, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { blobPath } from './helpers/dedupe.js'
import {
  childServer,
  inMemoryRegistry,
  makeImage,
  pushImage,
  scratchDirs,
  sha256,
  type TestImage,
} from './helpers/harness.js'
import { runOutpost } from './helpers/outpost-cli.js'
import { flipByte, quarantineFiles } from './helpers/scrub.js'

const dir = scratchDirs()

async function configFile(rootDirectory: string): Promise<string> {
  const file = join(await dir('outpost-scrub-config-'), 'config.json')
  await writeFile(file, JSON.stringify({ storage: { rootDirectory } }))
  return file
}

interface Stored {
  root: string
  config: string
  /** app:v1 and app:latest (one manifest), app:v2, lib:1.0 */
  images: { x: TestImage; y: TestImage; z: TestImage }
}

/** A storage with four tagged images in two repositories, and a config file for it. */
async function storage(): Promise<Stored> {
  const root = await dir('outpost-scrub-cli-')
  const reg = await inMemoryRegistry({ root })
  const images = { x: makeImage('x', 2), y: makeImage('y', 1), z: makeImage('z', 1) }
  try {
    for (const [repo, image, tag] of [
      ['app', images.x, 'v1'],
      ['app', images.x, 'latest'],
      ['app', images.y, 'v2'],
      ['lib', images.z, '1.0'],
    ] as const) {
      assert.equal((await pushImage(reg.request, repo, image, tag)).status, 201)
    }
  } finally {
    await reg.close()
  }
  return { root, config: await configFile(root), images }
}

/** The table's rows as [repository, tag, status, blob, error], header checked and left out. */
function tableRows(stdout: string): string[][] {
  const lines = stdout.split('\n')
  assert.match(lines[0], /^REPOSITORY +TAG +STATUS +AFFECTED-BLOB +ERROR$/)
  const blank = lines.indexOf('')
  assert.ok(blank > 0, 'a blank line ends the table')
  return lines
    .slice(1, blank)
    .map((line) => line.split(/ {2,}/))
    .sort((a, b) => (a.join(' ') < b.join(' ') ? -1 : 1))
}

describe('outpost scrub', () => {
  it('lists every image as ok and exits 0 when the storage is intact', async () => {
    const { config } = await storage()
    const res = await runOutpost(['scrub', config])
    assert.equal(res.code, 0, res.stderr)
    assert.equal(res.stderr, '')
    assert.deepEqual(tableRows(res.stdout), [
      ['app', 'latest', 'ok', '-', '-'],
      ['app', 'v1', 'ok', '-', '-'],
      ['app', 'v2', 'ok', '-', '-'],
      ['lib', '1.0', 'ok', '-', '-'],
    ])
    assert.match(res.stdout, /\n4 images in 2 repositories, 4 ok, 0 problems, \d+ bytes hashed\n$/)
  })

  it('lists the affected images with their blob and error, and exits 1', async () => {
    const { root, config, images } = await storage()
    const layer = sha256(images.x.layers[1])
    const cfg = sha256(images.z.config)
    await flipByte(blobPath(root, 'app', layer), 2)
    await flipByte(blobPath(root, 'lib', cfg), 0)
    // A repository whose index.json no longer parses is listed with no tag.
    const broken = await inMemoryRegistry({ root })
    await pushImage(broken.request, 'broken', makeImage('b', 1), 'v1')
    await broken.close()
    await writeFile(join(root, 'broken', 'index.json'), 'not json')

    const res = await runOutpost(['scrub', config])
    assert.equal(res.code, 1, res.stderr)
    const rows = tableRows(res.stdout)
    const mismatch = /^digest mismatch: content hashes to sha256:[0-9a-f]{64}$/
    // app:v1 found the rot; app:latest (the same manifest) then found the layer in quarantine.
    assert.deepEqual(
      rows.map((r) => r.slice(0, 4)),
      [
        ['app', 'latest', 'affected', layer],
        ['app', 'v1', 'affected', layer],
        ['app', 'v2', 'ok', '-'],
        ['broken', '-', 'affected', '-'],
        ['lib', '1.0', 'affected', cfg],
      ],
    )
    assert.match(rows[0][4], /^quarantined/)
    assert.match(rows[1][4], mismatch)
    assert.equal(rows[2][4], '-')
    assert.match(rows[3][4], /^index\.json: /)
    assert.match(rows[4][4], mismatch)
    assert.match(res.stdout, /\n4 images in 3 repositories, 1 ok, 4 problems, \d+ bytes hashed\n$/)
    assert.equal((await quarantineFiles(root)).length, 2)

    // Still affected on the next run, until the content is pushed again.
    const again = await runOutpost(['scrub', config])
    assert.equal(again.code, 1)
    assert.deepEqual(
      tableRows(again.stdout).map((r) => [r[0], r[1], r[2], r[4].split(':')[0]]),
      [
        ['app', 'latest', 'affected', 'quarantined'],
        ['app', 'v1', 'affected', 'quarantined'],
        ['app', 'v2', 'ok', '-'],
        ['broken', '-', 'affected', 'index.json'],
        ['lib', '1.0', 'affected', 'quarantined'],
      ],
    )
  })

  it('prints parseable JSON with --json', async () => {
    const { root, config, images } = await storage()
    const clean = await runOutpost(['scrub', config, '--json'])
    assert.equal(clean.code, 0, clean.stderr)
    const ok = JSON.parse(clean.stdout)
    assert.equal(ok.complete, true)
    assert.equal(ok.affectedCount, 0)
    assert.deepEqual(ok.affected, [])
    assert.equal(ok.images, 4)
    assert.equal(ok.listing.length, 4)
    assert.ok(ok.listing.every((r: { status: string }) => r.status === 'ok'))

    const cfg = sha256(images.y.config)
    await flipByte(blobPath(root, 'app', cfg), 0)
    const damaged = await runOutpost(['scrub', '--json', config])
    assert.equal(damaged.code, 1, damaged.stderr)
    const report = JSON.parse(damaged.stdout)
    assert.equal(report.affectedCount, 1)
    assert.equal(report.ok, 3)
    assert.equal(report.affected.length, 1)
    const [item] = report.affected
    assert.equal(item.repo, 'app')
    assert.equal(item.tag, 'v2')
    assert.equal(item.manifest, images.y.digest)
    assert.equal(item.blob, cfg)
    assert.match(item.error, /^digest mismatch/)
    assert.deepEqual(
      report.listing.filter((r: { status: string }) => r.status === 'affected'),
      [{ repository: 'app', tag: 'v2', status: 'affected', blob: cfg, error: item.error }],
    )
  })

  it('refuses with exit 1 while a server holds the storage, and scrubs nothing', async () => {
    const { root, config, images } = await storage()
    const layer = sha256(images.y.layers[0])
    await flipByte(blobPath(root, 'app', layer), 0)
    const server = await childServer(root)
    try {
      const res = await runOutpost(['scrub', config])
      assert.equal(res.code, 1)
      assert.match(res.stderr, /in use/)
      assert.match(res.stderr, /stop it first/)
      assert.equal(res.stdout, '')
      await access(blobPath(root, 'app', layer)) // not moved to quarantine
      assert.deepEqual(await quarantineFiles(root), [])
    } finally {
      await server.kill('SIGTERM')
    }
  })

  it('exits 1 with a clear message when the root does not exist', async () => {
    const missing = join(await dir(), 'not-mounted')
    const res = await runOutpost(['scrub', await configFile(missing)])
    assert.equal(res.code, 1)
    assert.match(res.stderr, new RegExp(`rootDirectory ${missing} does not exist`))
    assert.equal(res.stdout, '')
  })

  it('prints its usage with --help; without a config file works on ./data (none: exit 1)', async () => {
    const help = await runOutpost(['scrub', '--help'])
    assert.equal(help.code, 0)
    assert.match(help.stdout, /^outpost scrub \[config\.json\] \[--json\]\n/)
    assert.match(help.stdout, /Exits 0 when everything is intact, 1 when anything is affected/)
    assert.match(
      help.stdout,
      /Examples:\n {2}outpost scrub\n {2}outpost scrub \/etc\/outpost\/config\.json\n/,
    )
    const cwd = await dir()
    const bare = await runOutpost(['scrub'], cwd)
    assert.equal(bare.code, 1)
    assert.match(bare.stderr, /data does not exist: without a config file, scrub works on \.\/data/)
    assert.equal(await readdir(cwd).then((names) => names.length), 0, 'nothing is created')
    const two = await runOutpost(['scrub', 'a.json', 'b.json'], cwd)
    assert.equal(two.code, 2)
    assert.match(two.stderr, /scrub takes at most one config file/)
  })
})
