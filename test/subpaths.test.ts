// zot's storage.subPaths (seed: storage guide, "subpaths" and "Remote storage subpaths"): a route
// "/a" gives the repositories whose first path segment is "a" a store of their own; local and S3
// stores mix behind one HTTP API and one _catalog. Config: the zot example loads, routes and
// overlapping stores are refused with their JSON path. Server: a local default store, a local
// subpath "/a" and an S3 subpath "/b" (s3rver), each holding exactly its repositories; a mount
// never crosses stores; `outpost gc` covers every store; S3 going away fails only its store.
import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ListObjectsV2Command } from '@aws-sdk/client-s3'
import { ConfigError, parseConfig } from '../src/config/index.js'
import { createLogger } from '../src/log/logger.js'
import { s3StorageDriverSchema } from '../src/storage/s3/index.js'
import { startServer, type RunningServer } from '../src/server/server.js'
import type { StoreConfig } from '../src/server/store.js'
import {
  layoutFiles,
  makeImage,
  pushImage,
  REPO_ROOT,
  scratchDirs,
  sha256,
  socketServer,
  testConfig,
  type TestImage,
} from './helpers/harness.js'
import { runOutpost } from './helpers/outpost-cli.js'
import { rawClient, s3rverDriverConfig, startS3rver, type S3Server } from './helpers/s3.js'
import { subPathStore } from './helpers/subpaths.js'

const dir = scratchDirs()
const PREFIX = 'sub-b'

function problems(text: string): string[] {
  try {
    parseConfig(text, 'test.json')
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err))
    return err.problems
  }
  assert.fail(`expected ${text} to be rejected`)
}

const s3Section = (bucket: string, rootdirectory?: string) => ({
  name: 's3',
  region: 'us-east-2',
  bucket,
  ...(rootdirectory && { rootdirectory }),
})

describe('subPaths configuration', () => {
  it("loads zot's three-subPaths example, and an S3 subpath beside local ones", async () => {
    const text = await readFile(join(REPO_ROOT, 'test/fixtures/zot-subpaths-example.json'), 'utf8')
    const { storage } = parseConfig(text)
    assert.deepEqual(
      Object.entries(storage.subPaths!).map(([route, s]) => [route, s.rootDirectory, s.dedupe]),
      [
        ['a', '/tmp/zot1', true],
        ['b', '/tmp/zot2', true],
        ['c', '/tmp/zot3', false],
      ],
    )
    // zot's "Remote storage subpaths" example, with what Outpost needs on S3 (dedupe off).
    const s3 = parseConfig(
      JSON.stringify({
        storage: {
          rootDirectory: '/srv/zot',
          subPaths: {
            '/a': {
              rootDirectory: '/srv/zot-a',
              dedupe: false,
              storageDriver: { ...s3Section('zot-storage', '/zot-a'), secure: true },
            },
            '/b': { rootDirectory: '/srv/zot-b', gc: false },
          },
        },
      }),
    ).storage
    assert.equal(s3.storageDriver, undefined)
    assert.equal(s3.subPaths!.a.storageDriver?.bucket, 'zot-storage')
    assert.equal(s3.subPaths!.b.gc.enabled, false)
  })

  it('refuses a route that is not "/" and one lowercase repository-name segment', () => {
    for (const route of ['a', '/A', '/a/b', '/', '/-a', '/blobs']) {
      const text = JSON.stringify({
        storage: { rootDirectory: '/srv/r', subPaths: { [route]: { rootDirectory: '/srv/x' } } },
      })
      const found = problems(text)
      assert.equal(found.length, 1, found.join('\n'))
      assert.ok(found[0].startsWith(`storage.subPaths.${route}: `), found[0])
      assert.match(found[0], /expected "\/" and one repository-name path segment/)
    }
  })

  it('refuses stores on the same or nested roots, naming both JSON paths', () => {
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ '/a': { rootDirectory: '/srv/r' } }, 'storage.subPaths./a.rootDirectory', 'the same as'],
      [{ '/a': { rootDirectory: '/srv/r/a' } }, 'storage.subPaths./a.rootDirectory', 'nested'],
      // Compared resolved: "/srv/r/../r" is the default root itself.
      [{ '/a': { rootDirectory: '/srv/r/../r' } }, 'storage.subPaths./a.rootDirectory', 'same'],
      [
        { '/a': { rootDirectory: '/srv/a' }, '/b': { rootDirectory: '/srv/a/b' } },
        'storage.subPaths./b.rootDirectory',
        'storage.subPaths./a.rootDirectory',
      ],
    ]
    for (const [subPaths, path, says] of cases) {
      const found = problems(JSON.stringify({ storage: { rootDirectory: '/srv/r', subPaths } }))
      assert.equal(found.length, 1, found.join('\n'))
      assert.ok(found[0].startsWith(`${path}: `), found[0])
      assert.ok(found[0].includes(says), found[0])
    }
    // Roots beside each other (one name a prefix of the other's) are fine.
    parseConfig(
      JSON.stringify({
        storage: { rootDirectory: '/srv/r', subPaths: { '/a': { rootDirectory: '/srv/r-a' } } },
      }),
    )
  })

  it('refuses two S3 stores on the same bucket with the same or nested prefix', () => {
    const s3Store = (root: string, bucket: string, prefix?: string) => ({
      rootDirectory: root,
      dedupe: false,
      storageDriver: s3Section(bucket, prefix),
    })
    const config = (subPaths: Record<string, unknown>) =>
      JSON.stringify({ storage: { rootDirectory: '/srv/r', subPaths } })
    const same = problems(
      config({ '/a': s3Store('/srv/a', 'bk', '/zot'), '/b': s3Store('/srv/b', 'bk', 'zot/') }),
    )
    assert.equal(same.length, 1, same.join('\n'))
    assert.ok(same[0].startsWith('storage.subPaths./b.storageDriver.rootdirectory: '), same[0])
    assert.ok(same[0].includes('storage.subPaths./a.storageDriver.rootdirectory'), same[0])
    // No rootdirectory is the whole bucket: every other prefix in it is nested.
    const whole = problems(
      config({ '/a': s3Store('/srv/a', 'bk'), '/b': s3Store('/srv/b', 'bk', '/zot-b') }),
    )
    assert.match(whole[0], /^storage\.subPaths\.\/b\.storageDriver\.rootdirectory: .*nested/)
    // Other bucket, or sibling prefixes: fine.
    parseConfig(
      config({ '/a': s3Store('/srv/a', 'bk', '/a'), '/b': s3Store('/srv/b', 'bk', '/ab') }),
    )
    parseConfig(config({ '/a': s3Store('/srv/a', 'bk'), '/b': s3Store('/srv/b', 'other') }))
  })
})

describe('opening the stores', () => {
  it('a subpath that cannot open releases the stores already open', async () => {
    const main = await dir()
    const missing = join(await dir(), 'not-mounted')
    await assert.rejects(
      socketServer(main, { subPaths: { a: subPathStore(missing) } }),
      (err: Error) => err.name === 'RootMissingError' && err.message.includes(missing),
    )
    // The default store's lock was released: a server (or an offline command) can take it.
    const alone = await socketServer(main)
    await alone.close()
  })
})

describe('a local default store, a local subpath /a and an S3 subpath /b', () => {
  let s3: S3Server
  let roots: { main: string; a: string; b: string }
  let overrides: Parameters<typeof socketServer>[1]
  let server: RunningServer | undefined
  let url = ''
  const request = (path: string, init?: RequestInit) => fetch(`${url}${path}`, init)
  const images: Record<string, TestImage> = {}
  const REPOS = ['a', 'a/app', 'alpha/app', 'b/app', 'plain/app']

  async function start(): Promise<void> {
    server = await socketServer(roots.main, overrides, {
      scrub: { enabled: true, intervalMs: 86_400_000 },
    })
    url = server.url
  }

  async function bucketKeys(): Promise<string[]> {
    const client = rawClient(s3)
    const out = await client.send(
      new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${PREFIX}/` }),
    )
    client.destroy()
    return (out.Contents ?? []).map((o) => o.Key!.slice(PREFIX.length + 1)).sort()
  }

  before(async () => {
    s3 = await startS3rver()
    roots = { main: await dir(), a: await dir(), b: await dir() }
    const driver = s3StorageDriverSchema.parse(s3rverDriverConfig(s3, { rootdirectory: PREFIX }))
    overrides = {
      subPaths: {
        a: subPathStore(roots.a),
        b: subPathStore(roots.b, { dedupe: false, storageDriver: driver }),
      },
    }
    await start()
  })
  after(async () => {
    await server?.close().catch(() => {})
    await s3.stop()
  })

  it('stores each repository in the store its first segment routes to', async () => {
    for (const repo of REPOS) {
      images[repo] = makeImage(repo, 2)
      assert.equal((await pushImage(request, repo, images[repo], 'v1')).status, 201, repo)
    }
    const reposIn = (files: string[]) =>
      [
        ...new Set(files.filter((f) => f.endsWith('/index.json')).map((f) => f.slice(0, -11))),
      ].sort()
    // "alpha/app" starts with the letter a, not the segment "a": the default store.
    assert.deepEqual(reposIn(await layoutFiles(roots.main)), ['alpha/app', 'plain/app'])
    assert.deepEqual(reposIn(await layoutFiles(roots.a)), ['a', 'a/app'])
    assert.deepEqual(await layoutFiles(roots.b), [], 'the S3 store keeps only engine state locally')
    const keys = await bucketKeys()
    assert.deepEqual(reposIn(keys), ['b/app'])
    assert.ok(
      keys.every((k) => k.startsWith('b/app/')),
      keys.join(','),
    )
    assert.ok(keys.includes(`b/app/blobs/sha256/${sha256(images['b/app'].layers[1]).slice(7)}`))
  })

  it('pulls every image back, whichever store holds it', async () => {
    for (const repo of REPOS) {
      const m = await request(`/v2/${repo}/manifests/v1`)
      assert.equal(m.status, 200, repo)
      assert.deepEqual(Buffer.from(await m.arrayBuffer()), images[repo].manifest)
      const layer = images[repo].layers[1]
      const blob = await request(`/v2/${repo}/blobs/${sha256(layer)}`)
      assert.deepEqual(Buffer.from(await blob.arrayBuffer()), layer, repo)
    }
  })

  it('lists all stores in one _catalog, in order, paginated across stores', async () => {
    assert.deepEqual(await (await request('/v2/_catalog')).json(), { repositories: REPOS })
    const pages: string[][] = []
    let next: string | null = '/v2/_catalog?n=2'
    while (next) {
      const res = await request(next)
      pages.push(((await res.json()) as { repositories: string[] }).repositories)
      next = /^<([^>]+)>; rel="next"$/.exec(res.headers.get('link') ?? '')?.[1] ?? null
    }
    assert.deepEqual(pages, [REPOS.slice(0, 2), REPOS.slice(2, 4), REPOS.slice(4)])
  })

  it('mounts within a store (201) and falls back to an upload session across stores (202)', async () => {
    const digest = sha256(images['a/app'].layers[0])
    const across = await request(`/v2/b/app/blobs/uploads/?mount=${digest}&from=a/app`, {
      method: 'POST',
    })
    assert.equal(across.status, 202)
    assert.match(across.headers.get('location') ?? '', /^\/v2\/b\/app\/blobs\/uploads\/[0-9a-f-]+$/)
    assert.equal((await request(`/v2/b/app/blobs/${digest}`, { method: 'HEAD' })).status, 404)
    const within = await request(`/v2/a/copy/blobs/uploads/?mount=${digest}&from=a/app`, {
      method: 'POST',
    })
    assert.equal(within.status, 201)
    assert.equal((await request(`/v2/a/copy/blobs/${digest}`, { method: 'HEAD' })).status, 200)
    const s3Digest = sha256(images['b/app'].layers[0])
    const onS3 = await request(`/v2/b/copy/blobs/uploads/?mount=${s3Digest}&from=b/app`, {
      method: 'POST',
    })
    assert.equal(onS3.status, 201)
    assert.ok((await bucketKeys()).includes(`b/copy/blobs/sha256/${s3Digest.slice(7)}`))
  })

  it('reports scrub per store at /v2/_outpost/scrub', async () => {
    const status = (await (await request('/v2/_outpost/scrub')).json()) as Record<string, unknown>
    assert.equal(status.enabled, true)
    assert.deepEqual(Object.keys(status.subPaths as object), ['/a', '/b'])
  })

  it('outpost gc collects in every store, each by its own settings', async () => {
    // An orphan blob (no manifest holds it) in each store's repository.
    const orphans: Record<string, string> = {}
    for (const repo of ['plain/app', 'a/app', 'b/app']) {
      const bytes = Buffer.from(`orphan of ${repo}`)
      orphans[repo] = sha256(bytes)
      const res = await request(`/v2/${repo}/blobs/uploads/?digest=${orphans[repo]}`, {
        method: 'POST',
        body: bytes,
      })
      assert.equal(res.status, 201)
    }
    await server!.close()
    server = undefined
    const s3Config = { ...s3rverDriverConfig(s3, { rootdirectory: PREFIX }) }
    const configFile = join(await dir(), 'config.json')
    await writeFile(
      configFile,
      JSON.stringify({
        storage: {
          rootDirectory: roots.main,
          gcDelay: '0s',
          subPaths: {
            '/a': { rootDirectory: roots.a, gcDelay: '0s' },
            // /b keeps its orphan a day: its own gcDelay, not the default store's.
            '/b': { rootDirectory: roots.b, dedupe: false, storageDriver: s3Config },
          },
        },
      }),
    )
    // The dry run (a read-only view of every store, S3 included) lists what the pass removes.
    const dry = await runOutpost(['gc', configFile, '--dry-run'])
    assert.equal(dry.code, 0, dry.stderr)
    const run = await runOutpost(['gc', configFile])
    assert.equal(run.code, 0, run.stderr)
    const listing = (stdout: string) =>
      stdout
        .replaceAll('would be removed', 'removed')
        .replaceAll('would remove', 'removed')
        .split('\n')
        .filter((line) => line !== '' && !/freed/.test(line))
    assert.deepEqual(listing(dry.stdout), listing(run.stdout))
    assert.match(dry.stdout, /^a\/copy: repository would be removed \(empty\)$/m)
    assert.match(run.stdout, /^store \/ \(.*\): 2 repositories, removed 0 manifests and 1 blobs/m)
    // /a also drops a/copy: the blob mounted there above is held by no manifest either.
    assert.match(run.stdout, /^store \/a \(.*\): 3 repositories, removed 0 manifests and 2 blobs/m)
    assert.match(run.stdout, /^a\/copy: repository removed \(empty\)$/m)
    assert.match(run.stdout, /^store \/b \(.*\): 2 repositories, removed 0 manifests and 0 blobs/m)
    assert.match(run.stdout, /^7 repositories, removed 0 manifests and 3 blobs/m)
    const hex = (repo: string) => orphans[repo].slice(7)
    assert.ok(
      !(await layoutFiles(roots.main)).includes(`plain/app/blobs/sha256/${hex('plain/app')}`),
    )
    assert.ok(!(await layoutFiles(roots.a)).includes(`a/app/blobs/sha256/${hex('a/app')}`))
    assert.ok((await bucketKeys()).includes(`b/app/blobs/sha256/${hex('b/app')}`))
    await start()
  })

  it('S3 gone mid-upload: that upload fails, nothing shows, the local stores keep serving', async () => {
    const start = await request('/v2/b/app/blobs/uploads/', { method: 'POST' })
    assert.equal(start.status, 202)
    const location = start.headers.get('location')!
    const chunk = Buffer.alloc(256 * 1024, 7)
    const digest = sha256(chunk)
    const patch = await request(location, {
      method: 'PATCH',
      headers: {
        'Content-Range': `0-${chunk.length - 1}`,
        'Content-Type': 'application/octet-stream',
      },
      body: chunk,
    })
    assert.equal(patch.status, 202)
    const seen = s3.requests.length
    await s3.stop()
    const finish = await request(`${location}?digest=${digest}`, { method: 'PUT' })
    assert.ok(finish.status >= 500, `expected a server error, got ${finish.status}`)
    // Nothing reached the bucket (it is gone), and the server does not serve the blob.
    assert.ok(!s3.requests.slice(seen).some((r) => r.path.includes(digest.slice(7))))
    const head = await request(`/v2/b/app/blobs/${digest}`, { method: 'HEAD' })
    assert.notEqual(head.status, 200)
    for (const repo of ['plain/app', 'a/app']) {
      const m = await request(`/v2/${repo}/manifests/v1`)
      assert.equal(m.status, 200, repo)
      assert.deepEqual(Buffer.from(await m.arrayBuffer()), images[repo].manifest)
      const layer = images[repo].layers[0]
      const blob = await request(`/v2/${repo}/blobs/${sha256(layer)}`)
      assert.deepEqual(Buffer.from(await blob.arrayBuffer()), layer)
    }
    // New content still lands in the local subpath.
    assert.equal((await pushImage(request, 'a/after', makeImage('after'), 'v1')).status, 201)
  })
})

describe('log lines of stores', () => {
  /** A server on `main` (with `subPaths`) whose log lines are kept, GC and scrub run once. */
  async function passLines(subPaths?: Record<string, StoreConfig>) {
    const main = await dir()
    const lines: string[] = []
    const logger = createLogger({ level: 'info', journal: false, write: (l) => lines.push(l) })
    const config = {
      ...testConfig(main, subPaths ? { subPaths } : {}),
      scrub: { enabled: true, intervalMs: 86_400_000 },
    }
    const server = await startServer(config, logger)
    try {
      for (const { upkeep } of server.stores) {
        await upkeep.startupDone
        await upkeep.collector.runPass()
        await upkeep.scrubber!.runPass()
      }
    } finally {
      await server.close()
    }
    return lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'gc pass' || String(l.msg).startsWith('scrub pass'))
  }

  it('with subpaths, every GC and scrub line names its store', async () => {
    const passes = await passLines({ a: subPathStore(await dir()) })
    assert.deepEqual(
      passes.map((l) => [l.msg, l.store]),
      [
        ['gc pass', '/'],
        ['scrub pass clean', '/'],
        ['gc pass', '/a'],
        ['scrub pass clean', '/a'],
      ],
    )
  })

  it('with one store, no store field', async () => {
    const passes = await passLines()
    assert.deepEqual(
      passes.map((l) => [l.msg, l.store]),
      [
        ['gc pass', undefined],
        ['scrub pass clean', undefined],
      ],
    )
  })
})
