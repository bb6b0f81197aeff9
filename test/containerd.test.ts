// At the edge with containerd (docs/upstream.md, "At the edge with containerd and k3s"): Debian's
// containerd, started by the test with its own root and socket, pulls through Outpost with `ctr
// images pull --hosts-dir`, the hosts.toml naming Outpost as a mirror of the upstream's namespace
// (containerd docs/hosts.md). containerd adds `?ns=<upstream host>`, which picks the upstream in
// Outpost. The upstream is another Outpost holding small images with real tar layers; pulls go by
// tag and by digest. On demand: with the upstream up, then stopped. Periodic mirror: the first pass
// (seen on GET /v2/_outpost/mirror) pre-seeds this machine's platform of a two-platform index, the
// upstream stops, and containerd pulls from what was mirrored.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, it } from 'node:test'
import { resolveSync, syncSchema } from '../src/config/sync.js'
import { archiveImage, indexOf, type ArchiveImage } from './helpers/archives.js'
import {
  foreignArchitecture,
  hostArchitecture,
  startContainerd,
  writeHostsToml,
  type Containerd,
} from './helpers/containerd.js'
import { scratchDirs, socketServer } from './helpers/harness.js'
import { missingTools } from './helpers/images.js'
import { suiteNeeding } from './helpers/suite.js'
import { pushToUpstream } from './helpers/upstream.js'

const reason =
  (await missingTools('containerd', 'ctr')) ||
  (process.getuid?.() === 0 ? false : 'needs root (containerd unpacks with mounts)')
const dir = scratchDirs()
const cleanups: Array<() => Promise<unknown>> = []
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {})
})

/** An Outpost holding `image` as edge/app:1.0, standing in for the registry edge nodes pull from. */
async function upstreamWith(image: ArchiveImage) {
  const server = await socketServer(await dir())
  cleanups.push(() => server.close())
  await pushToUpstream(
    server.url,
    'edge/app',
    [image.config.bytes, ...image.layers.map((l) => l.bytes)],
    image.manifest.bytes,
    image.manifest.mediaType,
    '1.0',
  )
  return server
}

/**
 * Outpost pulling through `upstream` on demand (zot's extensions.sync shape). Another upstream,
 * unreachable, comes first and covers the same names: only containerd's `?ns=` leads Outpost
 * past it to the right one.
 */
async function pullThrough(upstream: string) {
  const registry = (url: string) => ({
    urls: [url],
    onDemand: true,
    tlsVerify: false,
    maxRetries: 1,
    retryDelay: '10ms',
  })
  const raw = { enable: true, registries: [registry('http://127.0.0.1:9'), registry(upstream)] }
  const server = await socketServer(await dir(), {}, { sync: resolveSync(syncSchema.parse(raw)) })
  cleanups.push(() => server.close())
  return server
}

async function containerd(): Promise<Containerd> {
  const c = await startContainerd(join(await dir('outpost-containerd-'), 'c'))
  cleanups.push(() => c.stop())
  return c
}

/**
 * A hosts directory for the upstream's namespace (`127.0.0.1:<port>`) with Outpost as its
 * mirror. The fallback `server` is the upstream over https, which the plain-http upstream
 * cannot answer: whatever containerd pulls came through the mirror.
 */
async function hostsFor(upstreamHost: string, mirror: string): Promise<string> {
  const hostsDir = await dir('outpost-certs.d-')
  await writeHostsToml(hostsDir, upstreamHost, mirror, `https://${upstreamHost}`)
  return hostsDir
}

/** `ctr images pull` of `ref` through the hosts dir; returns the image's target digest. */
async function ctrPull(c: Containerd, hostsDir: string, ref: string): Promise<string> {
  await c.ctr('images', 'pull', '--hosts-dir', hostsDir, ref)
  const { stdout } = await c.ctr('images', 'ls')
  const row = stdout.split('\n').find((line) => line.split(/\s+/)[0] === ref)
  assert.ok(row, `${ref} listed after the pull:\n${stdout}`)
  const digest = row.split(/\s+/).find((f) => f.startsWith('sha256:'))
  assert.ok(digest, row)
  return digest
}

interface Pulled {
  repo: string
  tag: string
  /** what the tag points at (a manifest or an index) */
  digest: string
  /** every blob containerd must hold after pulling it for this machine's platform */
  blobs: string[]
}

const blobsOf = (image: ArchiveImage) =>
  [image.manifest, image.config, ...image.layers].map((b) => b.digest)

/** Pull by tag and by digest, check every blob arrived, then forget the images and content. */
async function pullBoth(c: Containerd, hostsDir: string, upstreamHost: string, want: Pulled) {
  const byTag = `${upstreamHost}/${want.repo}:${want.tag}`
  const byDigest = `${upstreamHost}/${want.repo}@${want.digest}`
  assert.equal(await ctrPull(c, hostsDir, byTag), want.digest)
  assert.equal(await ctrPull(c, hostsDir, byDigest), want.digest)
  const content = (await c.ctr('content', 'ls', '-q')).stdout.split('\n')
  for (const digest of want.blobs)
    assert.ok(content.includes(digest), `${digest} in containerd's content store`)
  // Unpacked: the layer was applied to a snapshot (the tar was read, not just stored).
  assert.match((await c.ctr('snapshots', 'ls')).stdout, /sha256:/)
  // Gone again (garbage-collected synchronously), so the next pull fetches every byte.
  await c.ctr('images', 'rm', '--sync', byTag, byDigest)
  assert.equal((await c.ctr('content', 'ls', '-q')).stdout.trim(), '')
}

/** Outpost mirroring `upstream` periodically (no pull-through): `edge/**` for this platform. */
async function periodicMirror(upstream: string) {
  const raw = {
    enable: true,
    registries: [
      {
        urls: [upstream],
        onDemand: false,
        pollInterval: '1h',
        tlsVerify: false,
        content: [{ prefix: 'edge/**', platforms: [`linux/${hostArchitecture()}`] }],
      },
    ],
  }
  const server = await socketServer(await dir(), {}, { sync: resolveSync(syncSchema.parse(raw)) })
  cleanups.push(() => server.close())
  return server
}

interface MirrorStatus {
  registries: Array<{
    lastPass?: { images: { copied: number; failed: number }; failures: unknown[] }
  }>
}

/** The first pass's summary, from GET /v2/_outpost/mirror once it has one (polled, by count). */
async function firstPass(base: string) {
  for (let i = 0; i < 1200; i++) {
    const res = await fetch(`${base}/v2/_outpost/mirror`)
    assert.equal(res.status, 200)
    const status = (await res.json()) as MirrorStatus
    const last = status.registries[0]?.lastPass
    if (last) return last
    await new Promise((r) => setTimeout(r, 50))
  }
  assert.fail('no mirror pass finished')
}

suiteNeeding('containerd pulls through Outpost (hosts.toml mirror)', reason, () => {
  it('on demand by tag and by digest; again from the cache with the upstream stopped', async () => {
    const image = await archiveImage('edge', { layers: 1, arch: hostArchitecture() })
    const upstream = await upstreamWith(image)
    const upstreamHost = new URL(upstream.url).host
    const edge = await pullThrough(upstream.url)
    const c = await containerd()

    // Without a mirror that answers, containerd cannot reach the image: the fallback is no way
    // round Outpost (so the pulls below prove Outpost served them).
    const dead = await hostsFor(upstreamHost, 'http://127.0.0.1:9')
    await assert.rejects(
      c.ctr('images', 'pull', '--hosts-dir', dead, `${upstreamHost}/edge/app:1.0`),
    )

    const hostsDir = await hostsFor(upstreamHost, edge.url)
    const want = {
      repo: 'edge/app',
      tag: '1.0',
      digest: image.manifest.digest,
      blobs: blobsOf(image),
    }
    await pullBoth(c, hostsDir, upstreamHost, want)

    await upstream.close()
    await pullBoth(c, hostsDir, upstreamHost, want)
  })

  it('pre-seeded by the periodic mirror (this platform only), then served with the upstream stopped', async () => {
    const image = await archiveImage('edge', { layers: 1, arch: hostArchitecture() })
    const upstream = await upstreamWith(image)
    // A two-platform index: this machine's image and one for a CPU the site does not have.
    const other = await archiveImage('other', { layers: 1, arch: foreignArchitecture() })
    const index = indexOf([image, other])
    await pushToUpstream(
      upstream.url,
      'edge/multi',
      [image, other].flatMap((i) => [i.config, ...i.layers].map((b) => b.bytes)),
      image.manifest.bytes,
      image.manifest.mediaType,
      image.manifest.digest,
    )
    await pushToUpstream(
      upstream.url,
      'edge/multi',
      [],
      other.manifest.bytes,
      other.manifest.mediaType,
      other.manifest.digest,
    )
    await pushToUpstream(upstream.url, 'edge/multi', [], index.bytes, index.mediaType, '2.0')
    const upstreamHost = new URL(upstream.url).host

    const edge = await periodicMirror(upstream.url)
    const pass = await firstPass(edge.url)
    assert.deepEqual(pass.failures, [])
    assert.equal(pass.images.copied, 2, JSON.stringify(pass))
    await upstream.close()

    // The other platform was never fetched: its manifest is absent here (a partial index).
    const absent = await fetch(`${edge.url}/v2/edge/multi/manifests/${other.manifest.digest}`)
    assert.equal(absent.status, 404)

    const c = await containerd()
    const hostsDir = await hostsFor(upstreamHost, edge.url)
    await pullBoth(c, hostsDir, upstreamHost, {
      repo: 'edge/app',
      tag: '1.0',
      digest: image.manifest.digest,
      blobs: blobsOf(image),
    })
    await pullBoth(c, hostsDir, upstreamHost, {
      repo: 'edge/multi',
      tag: '2.0',
      digest: index.digest,
      blobs: [index.digest, ...blobsOf(image)],
    })
  })
})
