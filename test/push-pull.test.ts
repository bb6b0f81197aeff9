// End-to-end push and pull in memory through app.request(): the path every client takes.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  inMemoryRegistry,
  makeImage,
  pushImage,
  sha256,
  type InMemoryRegistry,
} from './helpers/harness.js'

describe('push and pull', () => {
  let reg: InMemoryRegistry
  before(async () => (reg = await inMemoryRegistry()))
  after(async () => reg.close())

  it('pushes an image and pulls it back by tag and by digest', async () => {
    const image = makeImage('push-pull', 2)
    const put = await pushImage(reg.request, 'team/app', image, 'v1')
    assert.equal(put.status, 201)
    assert.equal(put.headers.get('docker-content-digest'), image.digest)
    for (const ref of ['v1', image.digest]) {
      const res = await reg.request(`/v2/team/app/manifests/${ref}`)
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('content-type'), image.mediaType)
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), image.manifest)
    }
    const blob = await reg.request(`/v2/team/app/blobs/${sha256(image.layers[1])}`)
    assert.deepEqual(Buffer.from(await blob.arrayBuffer()), image.layers[1])
    const tags = await (await reg.request('/v2/team/app/tags/list')).json()
    assert.deepEqual(tags, { name: 'team/app', tags: ['v1'] })
  })
})
