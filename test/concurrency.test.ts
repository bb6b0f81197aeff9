// Concurrent pushes over a real socket (docs/architecture.md §5.5): index.json read-modify-write is
// serialized per repository, so no tag is lost when many clients push at once, and a tag pushed
// by several clients at once ends up on exactly one of their manifests while every pushed
// manifest stays reachable by digest. Upload sessions open and close concurrently in the same
// repository, so one session finishing must not pull the staging directory from under another.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  makeImage,
  pushImage,
  removeDir,
  sha256,
  socketServer,
  type TestImage,
} from './helpers/harness.js'
import { checkLayout, pullProblems, requester, type Requester } from './helpers/durability.js'

const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json'

/** An image whose first layer is `shared` (pushed by every client at once) and whose rest is its own. */
function imageOnBase(seed: string, shared: Buffer): TestImage {
  const own = makeImage(seed, 1)
  const layers = [shared, ...own.layers]
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST_TYPE,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(own.config),
        size: own.config.length,
      },
      layers: layers.map((l) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: sha256(l),
        size: l.length,
      })),
    }),
  )
  return {
    config: own.config,
    layers,
    manifest,
    digest: sha256(manifest),
    mediaType: MANIFEST_TYPE,
  }
}

/** Push through upload sessions (POST, PATCH, PUT ?digest=) instead of monolithic POSTs. */
async function pushChunked(
  request: Requester,
  repo: string,
  image: TestImage,
  tag: string,
): Promise<Response> {
  for (const blob of [image.config, ...image.layers]) {
    const open = await request(`/v2/${repo}/blobs/uploads/`, { method: 'POST' })
    assert.equal(open.status, 202, `open session: ${await open.text()}`)
    const location = open.headers.get('location')!
    const half = Math.floor(blob.length / 2)
    const patch = await request(location, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${half - 1}` },
      body: blob.subarray(0, half),
    })
    assert.equal(patch.status, 202, `append: ${await patch.text()}`)
    const close = await request(`${patch.headers.get('location')}?digest=${sha256(blob)}`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: blob.subarray(half),
    })
    assert.equal(close.status, 201, `close session: ${await close.text()}`)
  }
  return request(`/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'Content-Type': image.mediaType },
    body: image.manifest,
  })
}

// commit=true widens the windows (every rename is followed by directory syncs), which is where
// a request once failed because another had pruned the directory it was about to sync.
for (const commit of [false, true])
  describe(`concurrent pushes over a socket (commit=${commit})`, () => {
    let server: Awaited<ReturnType<typeof socketServer>>
    let request: Requester
    before(async () => {
      server = await socketServer(undefined, { commit })
      request = requester(server.url)
    })
    after(async () => {
      await server.close()
      await removeDir(server.root)
    })

    it('20 concurrent pushes of different tags to one repository all land', async () => {
      const repo = 'concurrent/many-tags'
      const shared = Buffer.from('a base layer every client pushes at the same time')
      const images = Array.from({ length: 20 }, (_, i) => imageOnBase(`many-${i}`, shared))
      const statuses = await Promise.all(
        images.map(async (image, i) => {
          // Half the clients use upload sessions, so sessions open and close while others publish.
          const push = i % 2 === 0 ? pushImage : pushChunked
          const res = await push(request, repo, image, `t${i}`)
          return `${res.status} ${res.status === 201 ? '' : await res.text()}`.trim()
        }),
      )
      assert.deepEqual(
        statuses,
        images.map(() => '201'),
      )

      const tags = (await (await request(`/v2/${repo}/tags/list`)).json()) as { tags: string[] }
      assert.deepEqual([...tags.tags].sort(), images.map((_, i) => `t${i}`).sort())
      for (const [i, image] of images.entries()) {
        assert.deepEqual(await pullProblems(request, repo, `t${i}`, image), [])
      }
      const report = await checkLayout(server.root)
      assert.deepEqual(report.problems, [])
      assert.equal(report.tags.get(repo)?.size, 20)
    })

    it('10 concurrent pushes of the same tag leave it on exactly one of them', async () => {
      const repo = 'concurrent/one-tag'
      const images = Array.from({ length: 10 }, (_, i) => makeImage(`same-tag-${i}`, 2))
      const statuses = await Promise.all(
        images.map(async (image) => (await pushImage(request, repo, image, 'latest')).status),
      )
      assert.deepEqual(
        statuses,
        images.map(() => 201),
      )

      const res = await request(`/v2/${repo}/manifests/latest`, {
        headers: { Accept: MANIFEST_TYPE },
      })
      assert.equal(res.status, 200)
      const winner = res.headers.get('docker-content-digest')
      const winners = images.filter((image) => image.digest === winner)
      assert.equal(winners.length, 1, `latest points at one of the pushed manifests, not ${winner}`)
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), winners[0].manifest)

      // Every manifest pushed is still reachable by digest, with its blobs.
      for (const image of images) {
        const byDigest = await request(`/v2/${repo}/manifests/${image.digest}`, {
          headers: { Accept: MANIFEST_TYPE },
        })
        assert.equal(byDigest.status, 200, `${image.digest} reachable by digest`)
        assert.deepEqual(Buffer.from(await byDigest.arrayBuffer()), image.manifest)
      }
      assert.deepEqual(await pullProblems(request, repo, 'latest', winners[0]), [])
      const tags = (await (await request(`/v2/${repo}/tags/list`)).json()) as { tags: string[] }
      assert.deepEqual(tags.tags, ['latest'])
      const report = await checkLayout(server.root)
      assert.deepEqual(report.problems, [])
      assert.equal(report.tags.get(repo)?.get('latest'), winner)
    })

    it('repeated bursts of upload sessions in one repository never lose a session', async () => {
      // Each session that finishes prunes the empty staging directory; one opening at that moment
      // must still get its file.
      const repo = 'concurrent/sessions'
      for (let burst = 0; burst < 5; burst++) {
        const images = Array.from({ length: 12 }, (_, i) => makeImage(`burst-${burst}-${i}`, 1))
        const statuses = await Promise.all(
          images.map(async (image, i) => {
            try {
              return (await pushChunked(request, repo, image, `b${burst}-${i}`)).status
            } catch (err) {
              return String(err)
            }
          }),
        )
        assert.deepEqual(
          statuses,
          images.map(() => 201),
          `burst ${burst}`,
        )
      }
    })
  })
