// The pull-through cache (extensions.sync, on demand) against a real upstream: Debian's
// docker-registry (CNCF distribution 2.8), plain, behind basic auth and behind a bearer-token
// service; pulled through Outpost with skopeo and over plain HTTP.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import * as http from 'node:http'
import { join } from 'node:path'
import { after, it } from 'node:test'
import { parseConfig } from '../src/config/index.js'
import { resolveSync, syncSchema } from '../src/config/sync.js'
import {
  imageOf,
  makeImage,
  scratchDirs,
  sha256,
  socketServer,
  type TestImage,
} from './helpers/harness.js'
import { missingTools, run, skopeoCopy } from './helpers/images.js'
import {
  countingProxy,
  pushToUpstream,
  startRegistry,
  startTokenService,
  type Upstream,
} from './helpers/upstream.js'
import { suiteNeeding } from './helpers/suite.js'

const reason = await missingTools('docker-registry', 'skopeo')
const dir = scratchDirs()
const cleanups: Array<() => Promise<unknown>> = []
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {})
})

/** A server pulling through the upstream at `url`, per a zot-shaped extensions.sync section. */
async function outpost(url: string, extra: Record<string, unknown> = {}, root?: string) {
  const raw = {
    enable: true,
    registries: [
      { urls: [url], onDemand: true, tlsVerify: false, maxRetries: 1, retryDelay: '10ms' },
    ],
    ...extra,
  }
  const server = await socketServer(root, {}, { sync: resolveSync(syncSchema.parse(raw)) })
  cleanups.push(() => server.close())
  return server
}

async function push(up: Upstream, repo: string, image: TestImage, tag: string) {
  await pushToUpstream(
    up.url,
    repo,
    [image.config, ...image.layers],
    image.manifest,
    image.mediaType,
    tag,
  )
}

/** GET manifest then every blob, as a client pulls; returns what it received. */
async function pull(base: string, repo: string, tag: string) {
  const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, {
    headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
  })
  const body = Buffer.from(await res.arrayBuffer())
  if (res.status !== 200) return { status: res.status, text: body.toString(), blobs: [] }
  const m = JSON.parse(body.toString())
  const blobs: string[] = []
  for (const d of [m.config, ...m.layers]) {
    const b = await fetch(`${base}/v2/${repo}/blobs/${d.digest}`)
    assert.equal(b.status, 200, `blob ${d.digest}`)
    blobs.push(sha256(Buffer.from(await b.arrayBuffer())))
    assert.equal(blobs.at(-1), d.digest)
  }
  return { status: 200, digest: res.headers.get('docker-content-digest'), manifest: body, blobs }
}

/** Wait until `check` holds (background storing and eviction run after the response). */
async function eventually(check: () => Promise<boolean>, what: string, ms = 10_000) {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const stored = async (root: string, repo: string, tag: string) => {
  const index = JSON.parse(await readFile(join(root, repo, 'index.json'), 'utf8').catch(() => '{}'))
  return (index.manifests ?? []).some(
    (m: { annotations?: Record<string, string> }) =>
      m.annotations?.['org.opencontainers.image.ref.name'] === tag,
  )
}

suiteNeeding('pull-through cache against docker-registry', reason, () => {
  it('config: zot shape accepted; a registry neither on demand nor periodic refused', () => {
    const base = { storage: { rootDirectory: '/tmp' } }
    const sync = (r: Record<string, unknown>) =>
      JSON.stringify({ ...base, extensions: { sync: { enable: true, registries: [r] } } })
    const ok = parseConfig(
      sync({ urls: ['https://r.example'], onDemand: true, maxRetries: 3, retryDelay: '1s' }),
    )
    assert.equal(ok.sync?.registries[0].content[0].prefix, '**')
    assert.throws(
      () => parseConfig(sync({ urls: ['https://r.example'] })),
      /pollInterval: required when onDemand is not true/,
    )
  })

  it('first pull matches the upstream; works with the upstream stopped, even after a restart', async () => {
    const work = await dir()
    const up = await startRegistry(work)
    cleanups.push(() => up.stop())
    const image = makeImage('first', 3)
    await push(up, 'library/app', image, 'v1')
    const root = await dir()
    let server = await outpost(up.url, {}, root)
    let host = new URL(server.url).host

    // A real client: skopeo copies through Outpost; digests are the upstream's.
    const copy = (to: string) =>
      skopeoCopy(`docker://${host}/library/app:v1`, `oci:${to}:v1`, '--src-tls-verify=false')
    await copy(join(work, 'first'))
    const upstreamDigest = (
      await fetch(`${up.url}/v2/library/app/manifests/v1`, {
        method: 'HEAD',
        headers: { Accept: image.mediaType },
      })
    ).headers.get('docker-content-digest')
    assert.equal(upstreamDigest, image.digest)
    const got = await pull(server.url, 'library/app', 'v1')
    assert.equal(got.digest, image.digest)
    assert.deepEqual(got.manifest, image.manifest)
    await eventually(() => stored(root, 'library/app', 'v1'), 'the manifest to be stored')

    await up.stop()
    const again = await pull(server.url, 'library/app', 'v1')
    assert.equal(again.digest, image.digest, 'served from the cache with the upstream down')
    // Never seen, upstream down: an error naming the upstream, not a bare NAME_UNKNOWN.
    const unseen = await fetch(`${server.url}/v2/library/other/manifests/v1`)
    assert.equal(unseen.status, 503)
    type UpstreamError = { message: string; detail: { upstream: string } }
    const err = ((await unseen.json()) as { errors: UpstreamError[] }).errors[0]
    assert.match(err.message, new RegExp(`upstream ${up.host.replace('.', '\\.')}`))
    assert.equal(err.detail.upstream, up.host)

    // A new process on the same storage: the stored copy answers, nothing held in memory.
    await server.close()
    server = await outpost(up.url, {}, root)
    host = new URL(server.url).host
    await copy(join(work, 'second'))
    const raw = await run('skopeo', [
      'inspect',
      '--raw',
      '--tls-verify=false',
      `docker://${host}/library/app:v1`,
    ])
    assert.equal(sha256(raw.stdout), image.digest)
  })

  it('content.tags on demand: a tag the filters leave out is not fetched, a kept one is', async () => {
    const work = await dir()
    const up = await startRegistry(work)
    cleanups.push(() => up.stop())
    const image = makeImage('tags', 1)
    await push(up, 'library/tagged', image, 'v1.0.0')
    await push(up, 'library/tagged', image, 'dev')
    const rule = { prefix: '**', tags: { semver: true, excludeRegex: '^v0' } }
    const registry = { urls: [up.url], onDemand: true, tlsVerify: false, content: [rule] }
    const server = await outpost(up.url, { registries: [registry] })
    const kept = await pull(server.url, 'library/tagged', 'v1.0.0')
    assert.equal(kept.digest, image.digest)
    const left = await fetch(`${server.url}/v2/library/tagged/manifests/dev`)
    assert.equal(left.status, 404)
    assert.equal(
      ((await left.json()) as { errors: Array<{ code: string }> }).errors[0].code,
      'MANIFEST_UNKNOWN',
    )
    // By digest there is no tag to filter: the same image is served.
    assert.equal((await pull(server.url, 'library/tagged', image.digest)).status, 200)
  })

  it('basic auth from the credentials file; without it the error names the upstream', async () => {
    const work = await dir()
    let up = await startRegistry(work)
    const image = makeImage('basic', 1)
    await push(up, 'team/basic', image, 'v1')
    await up.stop()
    up = await startRegistry(
      work,
      { kind: 'basic', username: 'edge', password: 's3cret' },
      Number(up.host.split(':')[1]),
    )
    cleanups.push(() => up.stop())
    const anonymous = await outpost(up.url)
    const refused = await fetch(`${anonymous.url}/v2/team/basic/manifests/v1`)
    assert.equal(refused.status, 503)
    assert.match(
      ((await refused.json()) as { errors: Array<{ code: string; message: string }> }).errors[0]
        .message,
      /asks for credentials/,
    )

    const credentialsFile = join(work, 'credentials.json')
    await writeFile(
      credentialsFile,
      JSON.stringify({ [up.host]: { username: 'edge', password: 's3cret' } }),
    )
    const server = await outpost(up.url, { credentialsFile })
    const got = await pull(server.url, 'team/basic', 'v1')
    assert.equal(got.status, 200, got.text)
    assert.equal(got.digest, image.digest)
  })

  it('bearer-token upstream: challenge, token from the realm, cached for later requests', async () => {
    const work = await dir()
    let up = await startRegistry(work)
    const image = makeImage('bearer', 2)
    await push(up, 'team/bearer', image, 'v1')
    await up.stop()
    const tokens = await startTokenService(work, { username: 'edge', password: 'tok' })
    cleanups.push(() => tokens.close())
    up = await startRegistry(
      work,
      { kind: 'token', service: tokens },
      Number(up.host.split(':')[1]),
    )
    cleanups.push(() => up.stop())
    assert.equal((await fetch(`${up.url}/v2/team/bearer/manifests/v1`)).status, 401)
    const credentialsFile = join(work, 'credentials.json')
    await writeFile(
      credentialsFile,
      JSON.stringify({ [up.host]: { username: 'edge', password: 'tok' } }),
    )
    const server = await outpost(up.url, { credentialsFile })
    const got = await pull(server.url, 'team/bearer', 'v1')
    assert.equal(got.status, 200, got.text)
    assert.equal(got.digest, image.digest)
    assert.equal(tokens.issued, 1, 'one token for the manifest and both blobs')
  })

  it('concurrent pulls of one layer make one upstream fetch; a corrupt upstream body is refused', async () => {
    const work = await dir()
    const up = await startRegistry(work)
    cleanups.push(() => up.stop())
    const layer = randomBytes(6 << 20)
    const image = imageOf(Buffer.from('{"seed":"shared"}'), [layer])
    await push(up, 'library/shared', image, 'v1')
    const proxy = await countingProxy(up.url, { bytesPerSecond: 12 << 20 })
    cleanups.push(() => proxy.close())
    const server = await outpost(proxy.url)
    const digest = sha256(layer)
    const bodies = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const res = await fetch(`${server.url}/v2/library/shared/blobs/${digest}`)
        assert.equal(res.status, 200)
        return sha256(Buffer.from(await res.arrayBuffer()))
      }),
    )
    assert.deepEqual(bodies, Array(5).fill(digest))
    assert.equal(proxy.count(new RegExp(`/blobs/${digest}$`)), 1)

    // Bad bytes from the upstream: the client's connection is cut short, nothing is stored.
    const bad = randomBytes(1 << 20)
    await push(up, 'library/bad', imageOf(Buffer.from('{}'), [bad]), 'x')
    const corrupt = await countingProxy(up.url, { corrupt: /\/blobs\// })
    cleanups.push(() => corrupt.close())
    const victim = await outpost(corrupt.url)
    const res = await fetch(`${victim.url}/v2/library/bad/blobs/${sha256(bad)}`)
    await assert.rejects(res.arrayBuffer(), 'the body must not complete')
    await new Promise((r) => setTimeout(r, 200))
    const files = await readdir(join(victim.root, 'library/bad/blobs/sha256')).catch(() => [])
    assert.deepEqual(files, [])
  })

  it('a reference that is neither a tag nor a digest is 404 MANIFEST_UNKNOWN, upstream not asked', async () => {
    const work = await dir()
    const up = await startRegistry(work)
    cleanups.push(() => up.stop())
    const proxy = await countingProxy(up.url)
    cleanups.push(() => proxy.close())
    const server = await outpost(proxy.url)
    // The control: an unknown valid tag is asked for upstream (and is 404 there too).
    const missing = await fetch(`${server.url}/v2/library/absent/manifests/v1`)
    assert.equal(missing.status, 404)
    const code = async (res: Response) =>
      ((await res.json()) as { errors: Array<{ code: string }> }).errors[0].code
    assert.equal(await code(missing), 'MANIFEST_UNKNOWN')
    const asked = proxy.count(/\/manifests\//)
    assert.ok(asked >= 1, 'a valid tag goes upstream')
    for (const ref of ['.INVALID_MANIFEST_NAME', 'sha256:tooshort']) {
      const url = `${server.url}/v2/library/absent/manifests/${ref}`
      const get = await fetch(url)
      assert.equal(get.status, 404, ref)
      assert.equal(await code(get), 'MANIFEST_UNKNOWN')
      const head = await fetch(url, { method: 'HEAD' })
      assert.equal(head.status, 404, ref)
    }
    assert.equal(proxy.count(/\/manifests\//), asked, 'no request upstream for them')
  })

  it('a big layer streams: first byte long before the transfer completes', async () => {
    const work = await dir()
    const up = await startRegistry(work)
    cleanups.push(() => up.stop())
    const layer = randomBytes(32 << 20)
    const image = imageOf(Buffer.from('{"seed":"big"}'), [layer])
    await push(up, 'library/big', image, 'v1')
    const proxy = await countingProxy(up.url, { bytesPerSecond: 16 << 20 })
    cleanups.push(() => proxy.close())
    const server = await outpost(proxy.url)
    const began = performance.now()
    const { ttfb, total, digest } = await new Promise<{
      ttfb: number
      total: number
      digest: string
    }>((resolve, reject) => {
      http.get(`${server.url}/v2/library/big/blobs/${sha256(layer)}`, (res) => {
        let first = 0
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => {
          first ||= performance.now() - began
          chunks.push(c)
        })
        res.on('end', () =>
          resolve({
            ttfb: first,
            total: performance.now() - began,
            digest: sha256(Buffer.concat(chunks)),
          }),
        )
        res.on('error', reject)
      })
    })
    assert.equal(digest, sha256(layer))
    assert.ok(total > 1500, `paced transfer took ${total} ms`)
    assert.ok(ttfb < total / 5, `first byte after ${ttfb} ms of ${total} ms`)
  })

  it('maxSize: least recently pulled images are evicted, the cache stays under the limit', async () => {
    const work = await dir()
    const up = await startRegistry(work)
    cleanups.push(() => up.stop())
    const images = ['a', 'b', 'c', 'd'].map((s) =>
      imageOf(Buffer.from(`{"seed":"${s}"}`), [randomBytes(1 << 20)]),
    )
    for (const [i, img] of images.entries()) await push(up, `cache/img${i}`, img, 'v1')
    const server = await outpost(up.url, { maxSize: '2.5MiB' })
    const blobBytes = async () => {
      let total = 0
      for (let i = 0; i < images.length; i++) {
        const d = join(server.root, `cache/img${i}/blobs/sha256`)
        for (const f of await readdir(d).catch(() => [])) total += (await stat(join(d, f))).size
      }
      return total
    }
    for (let i = 0; i < images.length; i++) {
      const got = await pull(server.url, `cache/img${i}`, 'v1')
      assert.equal(got.digest, images[i].digest)
      await eventually(() => stored(server.root, `cache/img${i}`, 'v1'), `img${i} stored`)
      await eventually(async () => (await blobBytes()) <= 2.5 * 1024 * 1024, 'eviction')
    }
    await up.stop()
    assert.equal((await pull(server.url, 'cache/img3', 'v1')).status, 200, 'newest still cached')
    assert.equal((await pull(server.url, 'cache/img0', 'v1')).status, 503, 'oldest evicted')
    assert.ok(!(await stored(server.root, 'cache/img0', 'v1')))
  })
})
