// Real clients against a real socket: images built offline with umoci, pushed and pulled with
// skopeo over docker://, and Outpost's own storage read by skopeo as the OCI layout it is.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, it } from 'node:test'
import { removeDir, sha256, socketServer, tempDir } from './helpers/harness.js'
import type { RunningServer } from '../src/server/server.js'
import {
  addImageIndex,
  buildImage,
  Layout,
  missingTools,
  run,
  skopeoCopy,
  type ImageManifest,
} from './helpers/images.js'
import { suiteNeeding } from './helpers/suite.js'

const reason = await missingTools('skopeo', 'umoci')

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json'
const ACCEPT_ALL = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST].join(', ')

/** Every blob a manifest references, in order: config first, then layers. */
function referenced(manifest: ImageManifest): string[] {
  return [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]
}

/** Assert two layouts hold the same manifest bytes under their tags and the same blobs. */
async function assertSameImage(a: Layout, aTag: string, b: Layout, bTag: string): Promise<void> {
  const left = await a.manifest(aTag)
  const right = await b.manifest(bTag)
  assert.equal(right.digest, left.digest)
  assert.deepEqual(right.bytes, left.bytes)
  for (const digest of referenced(left.parsed)) {
    assert.deepEqual(await b.blob(digest), await a.blob(digest), `blob ${digest}`)
  }
}

suiteNeeding('skopeo and umoci against Outpost', reason, () => {
  let work: string
  let src: Layout
  let server: RunningServer & { root: string }
  let host: string
  const tls = { dest: '--dest-tls-verify=false', src: '--src-tls-verify=false' }
  const get = (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, init)

  before(async () => {
    work = await tempDir('outpost-skopeo-')
    const dir = join(work, 'L')
    await buildImage(dir, 'base', [{ 'etc/hello.txt': 'hello from umoci\n' }], work)
    await buildImage(
      dir,
      'layers',
      [
        { 'a.txt': 'first layer\n' },
        { 'b/noise.bin': randomBytes(256 << 10) },
        { 'c/notes.txt': 'third layer\n', 'a.txt': 'overwritten\n' },
      ],
      work,
    )
    // A second platform of the base image, for a hand-written multi-arch index.
    await run('umoci', [
      'config',
      '--image',
      `${dir}:base`,
      '--architecture',
      'arm64',
      '--tag',
      'base-arm64',
    ])
    await addImageIndex(dir, 'multiarch', { amd64: 'base', arm64: 'base-arm64' })
    src = new Layout(dir)
    server = await socketServer()
    host = new URL(server.url).host
    await skopeoCopy(`oci:${dir}:base`, `docker://${host}/demo/img:v1`, tls.dest)
  })

  after(async () => {
    await server?.close()
    if (work) await removeDir(work)
    if (server) await removeDir(server.root)
  })

  it('pushes a umoci image; skopeo inspect reports the tag and the same digest', async () => {
    const { digest, bytes, parsed } = await src.manifest('base')
    const inspect = JSON.parse(
      (await run('skopeo', ['inspect', '--tls-verify=false', `docker://${host}/demo/img:v1`]))
        .stdout,
    )
    assert.deepEqual(inspect.RepoTags, ['v1'])
    assert.equal(inspect.Digest, digest)
    assert.deepEqual(
      inspect.Layers,
      parsed.layers.map((l) => l.digest),
    )
    const res = await get('/v2/demo/img/manifests/v1', { headers: { Accept: ACCEPT_ALL } })
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-type'), OCI_MANIFEST)
    assert.equal(res.headers.get('docker-content-digest'), digest)
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes)
  })

  it('copies the image back out byte-identical: manifest, config and layers', async () => {
    const out = join(work, 'out')
    await skopeoCopy(`docker://${host}/demo/img:v1`, `oci:${out}:v1`, tls.src)
    await assertSameImage(src, 'base', new Layout(out), 'v1')
  })

  it('round-trips a three-layer image, and stores it as a plain OCI layout', async () => {
    await skopeoCopy(`oci:${src.dir}:layers`, `docker://${host}/demo/layers:v1`, tls.dest)
    // A second tag of the same content: skopeo finds every blob present and pushes only a manifest.
    await skopeoCopy(`oci:${src.dir}:layers`, `docker://${host}/demo/layers:v2`, tls.dest)
    const { parsed } = await src.manifest('layers')
    assert.equal(parsed.layers.length, 3)
    const tags = await (await get('/v2/demo/layers/tags/list')).json()
    assert.deepEqual(tags, { name: 'demo/layers', tags: ['v1', 'v2'] })

    const out = join(work, 'out-layers')
    await skopeoCopy(`docker://${host}/demo/layers:v2`, `oci:${out}:v2`, tls.src)
    await assertSameImage(src, 'layers', new Layout(out), 'v2')
    // What Outpost keeps on disk is the same image, readable without Outpost.
    const stored = new Layout(join(server.root, 'demo/layers'))
    assert.deepEqual(await stored.tags(), ['v1', 'v2'])
    await assertSameImage(src, 'layers', stored, 'v1')
  })

  it("lets skopeo read Outpost's repository directory directly as an OCI layout", async () => {
    const repoDir = join(server.root, 'demo/img')
    const indexBefore = await readFile(join(repoDir, 'index.json'))
    const { digest } = await src.manifest('base')
    const inspect = JSON.parse((await run('skopeo', ['inspect', `oci:${repoDir}:v1`])).stdout)
    assert.equal(inspect.Digest, digest)
    const copy = join(work, 'copy')
    await skopeoCopy(`oci:${repoDir}:v1`, `oci:${copy}:v1`)
    await assertSameImage(src, 'base', new Layout(copy), 'v1')
    assert.deepEqual(await readFile(join(repoDir, 'index.json')), indexBefore)
  })

  it('pushes Docker schema 2 (--format v2s2) and serves those exact bytes back', async () => {
    await skopeoCopy(
      `oci:${src.dir}:layers`,
      `docker://${host}/demo/docker:v1`,
      '--format',
      'v2s2',
      tls.dest,
    )
    const res = await get('/v2/demo/docker/manifests/v1', { headers: { Accept: ACCEPT_ALL } })
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-type'), DOCKER_MANIFEST)
    const bytes = Buffer.from(await res.arrayBuffer())
    assert.equal(res.headers.get('docker-content-digest'), sha256(bytes))
    const served = JSON.parse(bytes.toString('utf8')) as ImageManifest
    assert.equal(served.mediaType, DOCKER_MANIFEST)
    assert.equal(served.config.mediaType, 'application/vnd.docker.container.image.v1+json')
    // Only the media types changed: the layer and config contents are the umoci originals.
    const { parsed } = await src.manifest('layers')
    assert.deepEqual(referenced(served), referenced(parsed))

    const raw = await run('skopeo', [
      'inspect',
      '--raw',
      '--tls-verify=false',
      `docker://${host}/demo/docker:v1`,
    ])
    assert.deepEqual(Buffer.from(raw.stdout), bytes)
    // dir: keeps the manifest exactly as pulled; oci: converts it back to OCI for a blob check.
    const dir = join(work, 'docker-dir')
    await skopeoCopy(`docker://${host}/demo/docker:v1`, `dir:${dir}`, tls.src)
    assert.deepEqual(await readFile(join(dir, 'manifest.json')), bytes)
    const out = join(work, 'docker-oci')
    await skopeoCopy(`docker://${host}/demo/docker:v1`, `oci:${out}:v1`, tls.src)
    // Converting back to OCI rewrites the config's media type, never the layers.
    const pulled = new Layout(out)
    for (const { digest } of parsed.layers) {
      assert.deepEqual(await pulled.blob(digest), await src.blob(digest), `layer ${digest}`)
    }
  })

  it('pushes a multi-arch index with --all and pulls it back identical', async () => {
    const index = await src.manifest('multiarch')
    await skopeoCopy(
      `oci:${src.dir}:multiarch`,
      `docker://${host}/demo/multi:v1`,
      '--all',
      tls.dest,
    )
    const res = await get('/v2/demo/multi/manifests/v1', { headers: { Accept: ACCEPT_ALL } })
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-type'), OCI_INDEX)
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), index.bytes)
    const children = (
      JSON.parse(index.bytes.toString('utf8')) as { manifests: Array<{ digest: string }> }
    ).manifests
    assert.equal(children.length, 2)
    for (const child of children) {
      const one = await get(`/v2/demo/multi/manifests/${child.digest}`, {
        headers: { Accept: ACCEPT_ALL },
      })
      assert.equal(one.status, 200)
      assert.deepEqual(Buffer.from(await one.arrayBuffer()), await src.blob(child.digest))
    }
    const arm = JSON.parse(
      (
        await run('skopeo', [
          'inspect',
          '--override-arch',
          'arm64',
          '--tls-verify=false',
          `docker://${host}/demo/multi:v1`,
        ])
      ).stdout,
    )
    // skopeo resolved the index to the arm64 child: the architecture comes from that child's config.
    assert.equal(arm.Architecture, 'arm64')
    assert.equal(arm.Digest, index.digest)

    const out = join(work, 'out-multi')
    await skopeoCopy(`docker://${host}/demo/multi:v1`, `oci:${out}:v1`, '--all', tls.src)
    const pulled = new Layout(out)
    const back = await pulled.manifest('v1')
    assert.deepEqual(back.bytes, index.bytes)
    for (const child of children) {
      const manifest = JSON.parse(
        (await pulled.blob(child.digest)).toString('utf8'),
      ) as ImageManifest
      for (const digest of referenced(manifest))
        assert.deepEqual(await pulled.blob(digest), await src.blob(digest))
    }
  })

  it('copies registry to registry between two repositories of the same server', async () => {
    await skopeoCopy(
      `docker://${host}/demo/layers:v1`,
      `docker://${host}/mirror/layers:v1`,
      tls.src,
      tls.dest,
    )
    const { digest, bytes } = await src.manifest('layers')
    const res = await get('/v2/mirror/layers/manifests/v1', { headers: { Accept: ACCEPT_ALL } })
    assert.equal(res.headers.get('docker-content-digest'), digest)
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes)
    await assertSameImage(src, 'layers', new Layout(join(server.root, 'mirror/layers')), 'v1')
    const catalog = (await (await get('/v2/_catalog')).json()) as { repositories: string[] }
    assert.deepEqual(catalog.repositories, [
      'demo/docker',
      'demo/img',
      'demo/layers',
      'demo/multi',
      'mirror/layers',
    ])
  })
})
