// Several instances on one bucket (docs/s3-and-subpaths.md, "Several instances"): two server
// processes share an S3 bucket (s3rver) and a DynamoDB table (dynalite) and serve one registry.
// What one takes in, the other serves at once; concurrent tag updates through both never lose a
// tag, because every index.json read-modify-write holds the repository's lease in DynamoDB, not a
// lock in one process's memory.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  childServer,
  makeImage,
  pushImage,
  scratchDirs,
  sha256,
  type ChildServer,
  type TestImage,
} from './helpers/harness.js'
import { s3rverDriverConfig, startS3rver, type S3Server } from './helpers/s3.js'
import { dynaliteCacheDriverConfig, startDynalite, type Dynalite } from './helpers/dynamo.js'

const dir = scratchDirs()
let s3: S3Server
let dynamo: Dynalite
const instances: ChildServer[] = []

before(async () => {
  ;[s3, dynamo] = await Promise.all([startS3rver(), startDynalite()])
  const storage = {
    dedupe: true,
    storageDriver: s3rverDriverConfig(s3, { rootdirectory: '/fleet' }),
    cacheDriver: dynaliteCacheDriverConfig(dynamo, { cacheTablename: 'outpost-fleet' }),
  }
  // Each instance has its own local root (engine index, upload staging); the bucket and the
  // table are shared.
  for (let i = 0; i < 2; i++) instances.push(await childServer(await dir(), storage))
})
after(async () => {
  for (const instance of instances) await instance.kill('SIGTERM')
  await Promise.all([s3?.stop(), dynamo?.stop()])
})

const via = (i: number) => (path: string, init?: RequestInit) =>
  fetch(`${instances[i % 2].url}${path}`, init)

async function assertServes(i: number, repo: string, tag: string, image: TestImage) {
  const request = via(i)
  const manifest = await request(`/v2/${repo}/manifests/${tag}`)
  assert.equal(manifest.status, 200, `${repo}:${tag} through instance ${i % 2}`)
  assert.deepEqual(Buffer.from(await manifest.arrayBuffer()), image.manifest)
  for (const blob of [image.config, ...image.layers]) {
    const res = await request(`/v2/${repo}/blobs/${sha256(blob)}`)
    assert.equal(res.status, 200)
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), blob)
  }
}

describe('two instances on one bucket and one DynamoDB table', () => {
  it('100 images pushed alternately through both are all pullable through both', async () => {
    const pushed: Array<[string, string, TestImage]> = []
    for (let i = 0; i < 100; i++) {
      const repo = `fleet/app${i % 10}`
      const image = makeImage(`scale-${i}`, 2)
      assert.equal((await pushImage(via(i), repo, image, `v${i}`)).status, 201)
      // At once through the other instance.
      await assertServes(i + 1, repo, `v${i}`, image)
      pushed.push([repo, `v${i}`, image])
    }
    for (const [i, [repo, tag, image]] of pushed.entries()) {
      await assertServes(i, repo, tag, image)
      await assertServes(i + 1, repo, tag, image)
    }
    for (const i of [0, 1]) {
      const { repositories } = (await (await via(i)('/v2/_catalog')).json()) as {
        repositories: string[]
      }
      assert.deepEqual(
        repositories,
        [...Array(10).keys()].map((n) => `fleet/app${n}`),
      )
      const { tags } = (await (await via(i)('/v2/fleet/app3/tags/list')).json()) as {
        tags: string[]
      }
      assert.deepEqual(
        tags.sort(),
        ['v13', 'v23', 'v3', 'v33', 'v43', 'v53', 'v63', 'v73', 'v83', 'v93'].sort(),
      )
    }
  })

  it('20 concurrent pushes of different tags to one repository, split across both, all land', async () => {
    const images = Array.from({ length: 20 }, (_, i) => makeImage(`tag-race-${i}`, 1))
    const results = await Promise.all(
      images.map((image, i) => pushImage(via(i), 'fleet/race', image, `t${i}`)),
    )
    assert.deepEqual(
      results.map((r) => r.status),
      images.map(() => 201),
    )
    const expected = images.map((_, i) => `t${i}`).sort()
    for (const i of [0, 1]) {
      const { tags } = (await (await via(i)('/v2/fleet/race/tags/list')).json()) as {
        tags: string[]
      }
      assert.deepEqual(tags.sort(), expected, `tags through instance ${i}`)
    }
    for (const [i, image] of images.entries())
      await assertServes(i + 1, 'fleet/race', `t${i}`, image)
  })
})
