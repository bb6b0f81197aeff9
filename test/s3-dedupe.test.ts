// Dedupe on S3 (zot storage guide, "Deduplication", with the bucket as the truth): real server
// processes against s3rver, with the DynamoDB cache driver on dynalite. Shared layers are stored
// once, under _outpost/blobs/, and each repository holds a reference that the bucket alone
// resolves; a reader never receives a reference's empty body; a start with dedupe off restores
// full copies and a start with it on dedupes again; deleting repositories never loses what
// another still holds; losing the cache (the DynamoDB table, or the LMDB index) loses nothing.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3'
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb'
import { after, before, describe, it } from 'node:test'
import {
  childServer,
  imageOf,
  pushImage,
  scratchDirs,
  sha256,
  type ChildServer,
  type TestImage,
} from './helpers/harness.js'
import { rawClient, s3rverDriverConfig, startS3rver, type S3Server } from './helpers/s3.js'
import {
  dynaliteCacheDriverConfig,
  rawDynamoClient,
  startDynalite,
  type Dynalite,
} from './helpers/dynamo.js'
import { runOutpost } from './helpers/outpost-cli.js'

const dir = scratchDirs()
const REPOS = ['team/a', 'team/b', 'team/c', 'team/d', 'team/e']
const PREFIX = 'dedupe'
const shared = [randomBytes(300_000), randomBytes(200_000)]
const images: TestImage[] = REPOS.map((repo) =>
  imageOf(Buffer.from(JSON.stringify({ os: 'linux', repo })), [...shared, randomBytes(1000)]),
)

let s3: S3Server
let dynamo: Dynalite
let root: string
let cacheDriver: Record<string, unknown>
let server: ChildServer | undefined

before(async () => {
  ;[s3, dynamo] = await Promise.all([startS3rver(), startDynalite()])
  root = await dir()
  cacheDriver = dynaliteCacheDriverConfig(dynamo)
})
after(async () => {
  await server?.kill('SIGTERM')
  await Promise.all([s3?.stop(), dynamo?.stop()])
})

/** (Re)start the one server on the bucket with these storage settings. */
async function restart(storage: Record<string, unknown>): Promise<ChildServer> {
  await server?.kill('SIGTERM')
  server = await childServer(
    root,
    {
      storageDriver: s3rverDriverConfig(s3, { rootdirectory: `/${PREFIX}` }),
      gcDelay: '1s',
      gcInterval: '1s',
      ...storage,
    },
    // The test's own load must not pause the server's background passes.
    { maintenance: { cpuPercent: 100, minFreeMemory: '0MB', ioRate: '1GB/s' } },
  )
  return server
}

const request = (path: string, init?: RequestInit) => fetch(`${server!.url}${path}`, init)

/** Every object in the registry's prefix with its size. */
async function bucket(): Promise<Map<string, number>> {
  const client = rawClient(s3)
  const out = new Map<string, number>()
  let token: string | undefined
  do {
    const page = await client.send(
      new ListObjectsV2Command({
        Bucket: s3.bucket,
        Prefix: `${PREFIX}/`,
        ContinuationToken: token,
      }),
    )
    for (const o of page.Contents ?? []) out.set(o.Key!.slice(PREFIX.length + 1), o.Size ?? 0)
    token = page.IsTruncated ? page.NextContinuationToken : undefined
  } while (token)
  client.destroy()
  return out
}

/** How many bytes of `layer` the bucket stores, over every key named by its digest. */
async function storedBytesOf(layer: Buffer): Promise<number> {
  const hex = sha256(layer).slice(7)
  let total = 0
  for (const [key, size] of await bucket()) if (key.endsWith(`/sha256/${hex}`)) total += size
  return total
}

async function until(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting until ${what}; server said:\n${server?.output().slice(-4000)}`,
      )
    }
    await new Promise((r) => setTimeout(r, 200))
  }
}

/** Pull every image of `repos` by tag and check each byte (a reference never reads as empty). */
async function assertPullable(repos: string[]): Promise<void> {
  for (const repo of repos) {
    const image = images[REPOS.indexOf(repo)]
    const manifest = await request(`/v2/${repo}/manifests/v1`)
    assert.equal(manifest.status, 200, repo)
    assert.deepEqual(Buffer.from(await manifest.arrayBuffer()), image.manifest)
    for (const blob of [image.config, ...image.layers]) {
      const res = await request(`/v2/${repo}/blobs/${sha256(blob)}`)
      assert.equal(res.status, 200, `${repo} ${sha256(blob)}`)
      assert.equal(res.headers.get('content-length'), String(blob.length))
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), blob)
    }
    const ranged = await request(`/v2/${repo}/blobs/${sha256(shared[0])}`, {
      headers: { Range: 'bytes=10-19' },
    })
    assert.equal(ranged.status, 206)
    assert.deepEqual(Buffer.from(await ranged.arrayBuffer()), shared[0].subarray(10, 20))
  }
}

describe('dedupe on S3', () => {
  it('five repositories sharing layers store each layer once in the bucket', async () => {
    await restart({ dedupe: true, cacheDriver })
    for (const [i, repo] of REPOS.entries()) {
      assert.equal((await pushImage(request, repo, images[i], 'v1')).status, 201)
    }
    for (const layer of shared) assert.equal(await storedBytesOf(layer), layer.length)
    const keys = await bucket()
    for (const layer of shared) {
      assert.equal(keys.get(`_outpost/blobs/sha256/${sha256(layer).slice(7)}`), layer.length)
      for (const repo of REPOS) {
        // Each repository's name for the layer is a reference: an empty object.
        assert.equal(keys.get(`${repo}/blobs/sha256/${sha256(layer).slice(7)}`), 0)
      }
    }
    await assertPullable(REPOS)
    // A mount shares too: no new bytes in the bucket.
    const mount = await request(
      `/v2/other/app/blobs/uploads/?mount=${sha256(shared[0])}&from=team/a`,
      { method: 'POST' },
    )
    assert.equal(mount.status, 201)
    assert.equal(await storedBytesOf(shared[0]), shared[0].length)
    assert.equal((await request(`/v2/other/app/blobs/${sha256(shared[0])}`)).status, 200)
  })

  it('a start with dedupe off restores full copies, and the shared ones are then swept', async () => {
    await restart({ dedupe: false })
    // Every repository with a manifest gets full bytes back. other/app holds only a mounted blob
    // that no manifest references: GC (gcDelay 1 s) may collect it before or after its restore.
    for (const layer of shared) {
      await until('every repository holds full bytes', async () => {
        const keys = await bucket()
        const hex = sha256(layer).slice(7)
        return REPOS.every((repo) => keys.get(`${repo}/blobs/sha256/${hex}`) === layer.length)
      })
    }
    await assertPullable(REPOS)
    await until('the shared copies are swept', async () => {
      return ![...(await bucket()).keys()].some((k) => k.startsWith('_outpost/blobs/'))
    })
    await assertPullable(REPOS)
  })

  it('a start with dedupe on dedupes what is already stored', async () => {
    await restart({ dedupe: true, cacheDriver })
    for (const layer of shared) {
      await until('each layer is stored once again', async () => {
        return (await storedBytesOf(layer)) === layer.length
      })
    }
    await assertPullable(REPOS)
  })

  it('with the DynamoDB table dropped, or the LMDB index deleted, every image still pulls', async () => {
    await server!.kill('SIGTERM')
    const client = rawDynamoClient(dynamo)
    await client.send(new DeleteTableCommand({ TableName: cacheDriver.cacheTablename as string }))
    client.destroy()
    await restart({ dedupe: true, cacheDriver }) // the table is created anew, empty
    await assertPullable(REPOS)
    // The same store with the cache kept locally (remoteCache off), after losing that index too.
    await server!.kill('SIGTERM')
    await rm(join(root, '_outpost', 'index'), { recursive: true, force: true })
    await restart({ dedupe: true, remoteCache: false })
    await assertPullable(REPOS)
  })

  it('deleting four repositories leaves the fifth pullable, its shared layers intact', async () => {
    await restart({ dedupe: true, cacheDriver })
    for (const repo of [...REPOS.slice(0, 4), 'other/app']) {
      if (repo !== 'other/app') {
        const image = images[REPOS.indexOf(repo)]
        const res = await request(`/v2/${repo}/manifests/${image.digest}`, { method: 'DELETE' })
        assert.equal(res.status, 202, repo)
      }
    }
    // other/app holds only a mounted blob and no manifest: GC removes it as unreferenced.
    await until('GC removed the four repositories', async () => {
      const { repositories } = (await (await request('/v2/_catalog')).json()) as {
        repositories: string[]
      }
      return repositories.length === 1 && repositories[0] === 'team/e'
    })
    // One more pass at least (the sweep follows the repository passes).
    await new Promise((r) => setTimeout(r, 2500))
    await assertPullable(['team/e'])
    for (const layer of shared) assert.equal(await storedBytesOf(layer), layer.length)
    for (const repo of REPOS.slice(0, 4)) {
      assert.ok(![...(await bucket()).keys()].some((k) => k.startsWith(`${repo}/`)), repo)
    }
  })

  it('scrub finds rot in a shared copy: every reference stops serving it until a re-push', async () => {
    await server!.kill('SIGTERM')
    const layer = shared[1]
    const client = rawClient(s3)
    await client.send(
      new PutObjectCommand({
        Bucket: s3.bucket,
        Key: `${PREFIX}/_outpost/blobs/sha256/${sha256(layer).slice(7)}`,
        Body: Buffer.alloc(layer.length, 7), // same size, other bytes: only a hash can tell
      }),
    )
    client.destroy()
    const config = join(await dir(), 'config.json')
    const storage = {
      rootDirectory: root,
      dedupe: true,
      cacheDriver,
      storageDriver: s3rverDriverConfig(s3, { rootdirectory: `/${PREFIX}` }),
    }
    await writeFile(config, JSON.stringify({ storage }))
    const scrub = await runOutpost(['scrub', config])
    assert.equal(scrub.code, 1, scrub.stderr)
    assert.match(scrub.stdout, /team\/e\s+v1\s+affected/)
    await restart({ dedupe: true, cacheDriver })
    const res = await request(`/v2/team/e/blobs/${sha256(layer)}`)
    assert.equal(res.status, 404, 'the corrupt bytes are served to no one')
    assert.ok(!(await bucket()).has(`_outpost/blobs/sha256/${sha256(layer).slice(7)}`))
    // A verified push brings the content back for the repository.
    assert.equal((await pushImage(request, 'team/e', images[4], 'v1')).status, 201)
    await assertPullable(['team/e'])
  })
})
