// Sync up to S3 (`outpost sync --to/--from`, Outpost's `uplink` key) against s3rver: a full
// sync while the local server runs; a second sync uploads nothing (counted in s3rver's request
// log); a sync killed mid-way resumes and uploads only the rest, and never shows a repository's
// index.json before its blobs; a second Outpost serving the bucket as its storage pulls every
// image; `--from` seeds an empty device through the registry, and refuses while a server runs.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ListObjectsV2Command } from '@aws-sdk/client-s3'
import { parseConfig } from '../src/config/index.js'
import { s3StorageDriverSchema } from '../src/storage/s3/index.js'
import type { RunningServer } from '../src/server/server.js'
import {
  childServer,
  imageOf,
  makeImage,
  pushImage,
  scratchDirs,
  sha256,
  socketServer,
  type ChildServer,
  type TestImage,
} from './helpers/harness.js'
import { runOutpost, spawnOutpost } from './helpers/outpost-cli.js'
import { rawClient, s3rverDriverConfig, startS3rver, type S3Server } from './helpers/s3.js'

const dir = scratchDirs()
const FLAT_OUT = { cpuPercent: 100, minFreeMemory: '0', ioRate: '1000MB/s' }

/** The uploads (object writes) in a slice of the request log, by object key. */
function writes(s3: S3Server, from: number): string[] {
  return s3.requests
    .slice(from)
    .filter((r) => r.method === 'PUT' || (r.method === 'POST' && r.query.includes('uploads')))
    .map((r) => r.path.slice(`/${s3.bucket}/`.length))
}

async function bucketKeys(s3: S3Server): Promise<string[]> {
  const client = rawClient(s3)
  const keys: string[] = []
  let token: string | undefined
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: s3.bucket, ContinuationToken: token }),
    )
    for (const o of page.Contents ?? []) keys.push(o.Key!)
    token = page.NextContinuationToken
  } while (token)
  client.destroy()
  return keys.sort()
}

const blobKey = (repo: string, digest: string) => `${repo}/blobs/sha256/${digest.slice(7)}`

/** Every object key an image puts in a repository (manifest, config, layers). */
const imageKeys = (repo: string, image: TestImage) =>
  [image.digest, sha256(image.config), ...image.layers.map(sha256)].map((d) => blobKey(repo, d))

describe('configuration of uplink', () => {
  it('resolves targets, schedule and rate, and rejects a bad rate', () => {
    const text = (uplink: unknown) => JSON.stringify({ storage: { rootDirectory: '/x' }, uplink })
    const driver = { name: 's3', region: 'us-east-1', bucket: 'b' }
    const c = parseConfig(text({ targets: { backup: driver }, schedule: '24h', rate: '2MB/s' }))
    assert.deepEqual(c.uplink, {
      targets: { backup: driver },
      scheduleMs: 86_400_000,
      rate: 2_000_000,
      repos: '**',
    })
    assert.throws(
      () => parseConfig(text({ targets: {}, rate: 'fast' })),
      /uplink\.rate: expected a rate/,
    )
    assert.throws(() => parseConfig(text({ targets: { b: { name: 's3' } } })), /uplink\.targets/)
  })
})

describe('outpost sync against s3rver', () => {
  let s3: S3Server
  let root: string
  let server: RunningServer
  let configFile: string
  let slowConfigFile: string
  const images = new Map<string, { image: TestImage; tag: string }>()
  const get = (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, init)

  const config = async (extra: Record<string, unknown> = {}) => {
    const file = join(await dir('outpost-uplink-config-'), 'config.json')
    const target = s3rverDriverConfig(s3)
    await writeFile(
      file,
      JSON.stringify({
        storage: { rootDirectory: root },
        maintenance: FLAT_OUT,
        uplink: { targets: { backup: target }, ...extra },
      }),
    )
    return file
  }

  before(async () => {
    s3 = await startS3rver()
    root = await dir('outpost-uplink-root-')
    server = await socketServer(root)
    for (const [repo, image, tag] of [
      ['app', makeImage('app-1', 2), 'v1'],
      ['app', makeImage('app-2', 3), 'v2'],
      ['team/tools', makeImage('tools', 1), 'latest'],
    ] as const) {
      assert.equal((await pushImage(get, repo, image, tag)).status, 201)
      images.set(`${repo}:${tag}`, { image, tag })
    }
    configFile = await config()
    slowConfigFile = await config({ rate: '1MB/s' })
  })

  after(async () => {
    await server?.close()
    await s3?.stop()
  })

  const sync = (...args: string[]) => runOutpost(['sync', ...args], undefined, 60_000)

  it('syncs every repository while the server runs, index.json of each last', async () => {
    const mark = s3.requests.length
    const res = await sync('--to', 'backup', '--config', configFile)
    assert.equal(res.code, 0, res.stderr)
    const expected = [...images].flatMap(([ref, { image }]) => imageKeys(ref.split(':')[0], image))
    const keys = await bucketKeys(s3)
    for (const key of expected) assert.ok(keys.includes(key), key)
    for (const repo of ['app', 'team/tools'])
      for (const file of ['index.json', 'oci-layout']) assert.ok(keys.includes(`${repo}/${file}`))
    const written = writes(s3, mark)
    assert.equal(written.length, new Set(expected).size + 4)
    for (const repo of ['app', 'team/tools']) {
      const ofRepo = written.filter((k) => k.startsWith(`${repo}/`))
      assert.equal(ofRepo.at(-1), `${repo}/index.json`)
    }
    assert.match(res.stdout, /"msg":"sync to backup done".*"copied":12/)
  })

  it('a second sync uploads nothing', async () => {
    const mark = s3.requests.length
    const res = await sync('--to', 'backup', '--config', configFile)
    assert.equal(res.code, 0, res.stderr)
    assert.deepEqual(writes(s3, mark), [])
    assert.match(res.stdout, /"copied":0,"bytes":0,"skipped":12,"indexes":0/)
  })

  it('an interrupted sync resumes and uploads only the rest', async () => {
    // Ten 256 KiB layers at 1 MB/s: the sync is killed after a few of them have gone up.
    const layers = Array.from({ length: 10 }, () => randomBytes(256 * 1024))
    const big = imageOf(Buffer.from(JSON.stringify({ os: 'linux', big: true })), layers)
    assert.equal((await pushImage(get, 'big', big, 'v1')).status, 201)
    images.set('big:v1', { image: big, tag: 'v1' })
    const mark = s3.requests.length
    const child = spawnOutpost(['sync', '--to', 'backup', '--config', slowConfigFile])
    const deadline = Date.now() + 30_000
    while (writes(s3, mark).filter((k) => k.startsWith('big/blobs/')).length < 3) {
      assert.ok(Date.now() < deadline, `no uploads seen: ${child.stderr()}`)
      await new Promise((r) => setTimeout(r, 20))
    }
    child.child.kill('SIGKILL')
    await child.exited
    const landed = (await bucketKeys(s3)).filter((k) => k.startsWith('big/'))
    const all = imageKeys('big', big)
    assert.ok(landed.length >= 2 && landed.length < all.length, `landed ${landed.length}`)
    // Never visible half-synced: no index.json (nor oci-layout) before every blob is there.
    assert.ok(!landed.includes('big/index.json') && !landed.includes('big/oci-layout'))

    const resumed = s3.requests.length
    const res = await sync('--to', 'backup', '--config', configFile)
    assert.equal(res.code, 0, res.stderr)
    const rest = all.filter((k) => !landed.includes(k))
    assert.deepEqual(
      writes(s3, resumed).sort(),
      [...rest, 'big/index.json', 'big/oci-layout'].sort(),
    )
  })

  describe('a second Outpost on the bucket', () => {
    let mirror: ChildServer
    before(async () => {
      mirror = await childServer(await dir('outpost-uplink-mirror-'), {
        storageDriver: s3rverDriverConfig(s3),
        dedupe: false,
      })
    })
    after(async () => void (await mirror?.kill('SIGTERM')))

    it('pulls every image with the same digests and bytes', async () => {
      const catalog = (await (await fetch(`${mirror.url}/v2/_catalog`)).json()) as {
        repositories: string[]
      }
      assert.deepEqual(catalog.repositories, ['app', 'big', 'team/tools'])
      for (const [ref, { image, tag }] of images) {
        const repo = ref.split(':')[0]
        const res = await fetch(`${mirror.url}/v2/${repo}/manifests/${tag}`, {
          headers: { Accept: image.mediaType },
        })
        assert.equal(res.status, 200, ref)
        assert.equal(res.headers.get('docker-content-digest'), image.digest)
        for (const blob of [image.config, ...image.layers]) {
          const b = await fetch(`${mirror.url}/v2/${repo}/blobs/${sha256(blob)}`)
          assert.equal(b.status, 200)
          assert.deepEqual(Buffer.from(await b.arrayBuffer()), blob)
        }
      }
    })
  })

  it('a server with uplink.schedule syncs on its own', async () => {
    const scheduled = await socketServer(
      await dir('outpost-uplink-sched-'),
      {},
      {
        uplink: {
          targets: {
            b: s3StorageDriverSchema.parse(s3rverDriverConfig(s3, { rootdirectory: '/scheduled' })),
          },
          scheduleMs: 1000,
          rate: Infinity,
          repos: '**',
        },
      },
    )
    try {
      const image = makeImage('scheduled')
      const put = (p: string, init?: RequestInit) => fetch(`${scheduled.url}${p}`, init)
      assert.equal((await pushImage(put, 'sched', image, 'v1')).status, 201)
      const deadline = Date.now() + 20_000
      while (!(await bucketKeys(s3)).includes('scheduled/sched/index.json')) {
        assert.ok(Date.now() < deadline, 'the scheduled sync never wrote index.json')
        await new Promise((r) => setTimeout(r, 200))
      }
      const keys = await bucketKeys(s3)
      for (const key of imageKeys('sched', image)) assert.ok(keys.includes(`scheduled/${key}`))
    } finally {
      await scheduled.close()
    }
  })

  it('--from refuses while a server holds the storage', async () => {
    const res = await sync('--from', 'backup', '--config', configFile)
    assert.equal(res.code, 1)
    assert.match(res.stderr, /stop the server first/)
  })

  it('--from seeds an empty device through the registry, then has nothing left to fetch', async () => {
    const device = await dir('outpost-uplink-device-')
    const file = join(await dir('outpost-uplink-config-'), 'config.json')
    const target = s3rverDriverConfig(s3)
    await writeFile(
      file,
      JSON.stringify({
        storage: { rootDirectory: device },
        maintenance: FLAT_OUT,
        uplink: { targets: { backup: target } },
      }),
    )
    const res = await sync('--from', 'backup', '--repos', 'app', '--config', file)
    assert.equal(res.code, 0, res.stderr)
    assert.match(res.stdout, /"repositories":1,"copied":7/)
    const again = await sync('--from', 'backup', '--repos', 'app', '--config', file)
    assert.match(again.stdout, /"copied":0,"bytes":0,"skipped":7/)
    const seeded = await socketServer(device)
    try {
      const catalog = (await (await fetch(`${seeded.url}/v2/_catalog`)).json()) as {
        repositories: string[]
      }
      assert.deepEqual(catalog.repositories, ['app'])
      for (const tag of ['v1', 'v2']) {
        const { image } = images.get(`app:${tag}`)!
        const m = await fetch(`${seeded.url}/v2/app/manifests/${tag}`)
        assert.equal(m.headers.get('docker-content-digest'), image.digest)
        const layer = image.layers.at(-1)!
        const b = await fetch(`${seeded.url}/v2/app/blobs/${sha256(layer)}`)
        assert.deepEqual(Buffer.from(await b.arrayBuffer()), layer)
      }
    } finally {
      await seeded.close()
    }
  })
})
