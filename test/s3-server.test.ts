// Outpost serving from S3 (storageDriver): a real server process against s3rver. Blobs, manifests
// and index.json live in the bucket; rootDirectory keeps only local state. When S3 goes away
// mid-upload the client gets a clean error and nothing half-written becomes visible.
import assert from 'node:assert/strict'
import { ListObjectsV2Command } from '@aws-sdk/client-s3'
import { after, describe, it } from 'node:test'
import {
  childServer,
  layoutFiles,
  makeImage,
  pushImage,
  scratchDirs,
  sha256,
  type ChildServer,
} from './helpers/harness.js'
import { rawClient, s3rverDriverConfig, startS3rver, type S3Server } from './helpers/s3.js'

const dir = scratchDirs()
const servers: Array<{ stop(): Promise<unknown> }> = []
after(async () => {
  for (const s of servers.reverse()) await s.stop()
})

async function s3Registry(
  prefix: string,
): Promise<{ s3: S3Server; server: ChildServer; root: string }> {
  const s3 = await startS3rver()
  servers.push(s3)
  const root = await dir()
  const server = await childServer(root, {
    dedupe: false,
    storageDriver: s3rverDriverConfig(s3, { rootdirectory: prefix }),
  })
  servers.push({ stop: () => server.kill('SIGTERM') })
  return { s3, server, root }
}

async function bucketKeys(s3: S3Server, prefix: string): Promise<string[]> {
  const client = rawClient(s3)
  const out = await client.send(
    new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${prefix}/` }),
  )
  client.destroy()
  return (out.Contents ?? []).map((o) => o.Key!.slice(prefix.length + 1)).sort()
}

describe('serving from S3', () => {
  it('pushes and pulls through the bucket; the local root holds no layout', async () => {
    const { s3, server, root } = await s3Registry('registry')
    const request = (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, init)
    const image = makeImage('on-s3', 2)
    assert.equal((await pushImage(request, 'team/app', image, 'v1')).status, 201)
    const manifest = await request('/v2/team/app/manifests/v1')
    assert.equal(manifest.status, 200)
    assert.deepEqual(Buffer.from(await manifest.arrayBuffer()), image.manifest)
    const layer = await request(`/v2/team/app/blobs/${sha256(image.layers[1])}`)
    assert.deepEqual(Buffer.from(await layer.arrayBuffer()), image.layers[1])
    const ranged = await request(`/v2/team/app/blobs/${sha256(image.layers[0])}`, {
      headers: { Range: 'bytes=2-5' },
    })
    assert.equal(ranged.status, 206)
    assert.deepEqual(Buffer.from(await ranged.arrayBuffer()), image.layers[0].subarray(2, 6))
    assert.deepEqual(await (await request('/v2/_catalog')).json(), { repositories: ['team/app'] })
    const { tags } = (await (await request('/v2/team/app/tags/list')).json()) as { tags: string[] }
    assert.deepEqual(tags, ['v1'])

    const keys = await bucketKeys(s3, 'registry')
    assert.ok(keys.includes('team/app/index.json'), keys.join(','))
    assert.ok(keys.includes('team/app/oci-layout'))
    assert.ok(keys.includes(`team/app/blobs/sha256/${image.digest.slice(7)}`))
    assert.ok(!keys.some((k) => k.includes('.uploads')), 'no staging in the bucket')
    assert.deepEqual(await layoutFiles(root), [], 'the local root keeps only engine state')
  })

  it('S3 gone mid-upload: the client gets an error, nothing half-written becomes visible', async () => {
    const { s3, server } = await s3Registry('faults')
    const request = (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, init)
    const image = makeImage('before-outage', 1)
    assert.equal((await pushImage(request, 'app', image, 'v1')).status, 201)
    const before = await bucketKeys(s3, 'faults')
    await s3.stop()
    const blob = Buffer.alloc(1024 * 1024, 3)
    const res = await request(`/v2/app/blobs/uploads/?digest=${sha256(blob)}`, {
      method: 'POST',
      body: blob,
    })
    // 503 UNAVAILABLE naming the backend (issue 14), not a bare 500.
    assert.equal(res.status, 503)
    const body = (await res.json()) as { errors: Array<{ code: string; message: string }> }
    assert.equal(body.errors[0].code, 'UNAVAILABLE')
    assert.match(
      body.errors[0].message,
      /s3 \(bucket .* at http:\/\/127\.0\.0\.1:\d+\) unreachable/,
    )
    // The server is still answering (health) while its backend is away.
    assert.equal((await request('/livez')).status, 200)
    assert.ok(!before.some((k) => k.includes(sha256(blob).slice(7))))
  })
})
