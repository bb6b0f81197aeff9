// Hosting a layout written by another tool (docs/architecture.md §4): a skopeo-written and a umoci-written
// OCI Image Layout placed under the root before start are served as they are, without
// conversion, and reading them does not rewrite them.
import assert from 'node:assert/strict'
import { mkdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, it } from 'node:test'
import type { RunningServer } from '../src/server/server.js'
import { layoutFiles, removeDir, socketServer, tempDir } from './helpers/harness.js'
import {
  buildImage,
  Layout,
  missingTools,
  run,
  skopeoCopy,
  type ImageManifest,
} from './helpers/images.js'
import { suiteNeeding } from './helpers/suite.js'

const reason = await missingTools('skopeo', 'umoci')

const ACCEPT_ALL = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ')

suiteNeeding('a layout written by another tool', reason, () => {
  let work: string
  let root: string
  let server: RunningServer
  let host: string
  let hosted: Layout
  let copied: Layout
  let filesBefore: string[]
  const indexBefore = new Map<string, { bytes: Buffer; mtimeMs: number }>()
  const get = (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, init)

  before(async () => {
    work = await tempDir('outpost-foreign-')
    root = await tempDir('outpost-foreign-root-')
    const src = join(work, 'L')
    await buildImage(src, 'base', [{ 'etc/motd': 'built elsewhere\n' }], work)
    await buildImage(src, 'tools', [{ 'bin/tool': 'one\n' }, { 'share/tool.txt': 'two\n' }], work)
    // skopeo writes one layout into the root, and a whole umoci layout is copied in with cp -r.
    await mkdir(join(root, 'hosted'))
    await skopeoCopy(`oci:${src}:base`, `oci:${root}/hosted/app:v1`)
    await mkdir(join(root, 'vendor'))
    await run('cp', ['-r', src, join(root, 'vendor/umoci')])
    hosted = new Layout(join(root, 'hosted/app'))
    copied = new Layout(join(root, 'vendor/umoci'))
    for (const layout of [hosted, copied]) {
      const file = join(layout.dir, 'index.json')
      indexBefore.set(file, { bytes: await readFile(file), mtimeMs: (await stat(file)).mtimeMs })
    }
    filesBefore = await layoutFiles(root)
    server = await socketServer(root)
    host = new URL(server.url).host
  })

  after(async () => {
    await server?.close()
    for (const dir of [work, root]) if (dir) await removeDir(dir)
  })

  it('lists both layouts in _catalog and their tags', async () => {
    const catalog = await (await get('/v2/_catalog')).json()
    assert.deepEqual(catalog, { repositories: ['hosted/app', 'vendor/umoci'] })
    assert.deepEqual(await (await get('/v2/hosted/app/tags/list')).json(), {
      name: 'hosted/app',
      tags: ['v1'],
    })
    assert.deepEqual(await (await get('/v2/vendor/umoci/tags/list')).json(), {
      name: 'vendor/umoci',
      tags: ['base', 'tools'],
    })
  })

  it('serves each manifest by tag and by digest with the exact stored bytes', async () => {
    for (const [repo, layout, tags] of [
      ['hosted/app', hosted, ['v1']],
      ['vendor/umoci', copied, ['base', 'tools']],
    ] as const) {
      for (const tag of tags) {
        const { digest, bytes } = await layout.manifest(tag)
        for (const ref of [tag, digest]) {
          const res = await get(`/v2/${repo}/manifests/${ref}`, { headers: { Accept: ACCEPT_ALL } })
          assert.equal(res.status, 200, `${repo}:${ref}`)
          assert.equal(
            res.headers.get('content-type'),
            'application/vnd.oci.image.manifest.v1+json',
          )
          assert.equal(res.headers.get('docker-content-digest'), digest)
          assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes)
          const head = await get(`/v2/${repo}/manifests/${ref}`, { method: 'HEAD' })
          assert.equal(head.status, 200)
          assert.equal(head.headers.get('content-length'), String(bytes.length))
        }
      }
    }
  })

  it('serves the config and every layer blob byte for byte', async () => {
    for (const [repo, layout, tag] of [
      ['hosted/app', hosted, 'v1'],
      ['vendor/umoci', copied, 'tools'],
    ] as const) {
      const manifest: ImageManifest = (await layout.manifest(tag)).parsed
      for (const { digest, size } of [manifest.config, ...manifest.layers]) {
        const res = await get(`/v2/${repo}/blobs/${digest}`)
        assert.equal(res.status, 200, `${repo}@${digest}`)
        const body = Buffer.from(await res.arrayBuffer())
        assert.equal(body.length, size)
        assert.deepEqual(body, await layout.blob(digest))
      }
    }
    const missing = await get(`/v2/hosted/app/blobs/sha256:${'0'.repeat(64)}`)
    assert.equal(missing.status, 404)
  })

  it('lets skopeo pull the hosted layouts over docker://', async () => {
    for (const [repo, layout, tag] of [
      ['hosted/app', hosted, 'v1'],
      ['vendor/umoci', copied, 'tools'],
    ] as const) {
      const out = join(work, `pulled-${repo.replace('/', '-')}`)
      await skopeoCopy(
        `docker://${host}/${repo}:${tag}`,
        `oci:${out}:${tag}`,
        '--src-tls-verify=false',
      )
      const pulled = new Layout(out)
      const original = await layout.manifest(tag)
      const back = await pulled.manifest(tag)
      assert.equal(back.digest, original.digest)
      assert.deepEqual(back.bytes, original.bytes)
      for (const { digest } of [original.parsed.config, ...original.parsed.layers]) {
        assert.deepEqual(await pulled.blob(digest), await layout.blob(digest))
      }
    }
  })

  it('has not rewritten either layout by serving it', async () => {
    for (const [file, before] of indexBefore) {
      assert.deepEqual(await readFile(file), before.bytes, file)
      assert.equal((await stat(file)).mtimeMs, before.mtimeMs, file)
    }
    assert.deepEqual(await layoutFiles(root), filesBefore)
    // The other tools still read what they wrote.
    const ls = await run('umoci', ['ls', '--layout', copied.dir])
    assert.deepEqual(ls.stdout.trim().split('\n').sort(), ['base', 'tools'])
    const inspect = JSON.parse((await run('skopeo', ['inspect', `oci:${hosted.dir}:v1`])).stdout)
    assert.equal(inspect.Digest, (await hosted.descriptor('v1')).digest)
  })

  it('keeps a pushed tag readable by skopeo and umoci beside the foreign ones', async () => {
    await skopeoCopy(
      `docker://${host}/vendor/umoci:base`,
      `docker://${host}/vendor/umoci:pushed`,
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
    )
    assert.deepEqual(await copied.tags(), ['base', 'pushed', 'tools'])
    const ls = await run('umoci', ['ls', '--layout', copied.dir])
    assert.deepEqual(ls.stdout.trim().split('\n').sort(), ['base', 'pushed', 'tools'])
    const inspect = JSON.parse(
      (await run('skopeo', ['inspect', `oci:${copied.dir}:pushed`])).stdout,
    )
    assert.equal(inspect.Digest, (await copied.descriptor('base')).digest)
  })
})
