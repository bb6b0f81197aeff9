// At the edge with containerd (README "At the edge with containerd and k3s"): Debian's containerd,
// started by the test with its own root and socket, pulls through Outpost with `ctr images pull
// --hosts-dir`, the hosts.toml naming Outpost as a mirror of the upstream's namespace (containerd
// docs/hosts.md). containerd adds `?ns=<upstream host>`, which picks the upstream in Outpost.
// The upstream is another Outpost holding a small image with a real tar layer; pulls go by tag
// and by digest, with the upstream up and then stopped.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, it } from 'node:test'
import { resolveSync, syncSchema } from '../src/config/sync.js'
import { archiveImage, type ArchiveImage } from './helpers/archives.js'
import {
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

/** Pull by tag and by digest, check every blob arrived, then forget the images and content. */
async function pullBoth(
  c: Containerd,
  hostsDir: string,
  upstreamHost: string,
  image: ArchiveImage,
) {
  const byTag = `${upstreamHost}/edge/app:1.0`
  const byDigest = `${upstreamHost}/edge/app@${image.manifest.digest}`
  assert.equal(await ctrPull(c, hostsDir, byTag), image.manifest.digest)
  assert.equal(await ctrPull(c, hostsDir, byDigest), image.manifest.digest)
  const content = (await c.ctr('content', 'ls', '-q')).stdout.split('\n')
  for (const blob of [image.manifest, image.config, ...image.layers])
    assert.ok(content.includes(blob.digest), `${blob.digest} in containerd's content store`)
  // Unpacked: the layer was applied to a snapshot (the tar was read, not just stored).
  assert.match((await c.ctr('snapshots', 'ls')).stdout, /sha256:/)
  // Gone again (garbage-collected synchronously), so the next pull fetches every byte.
  await c.ctr('images', 'rm', '--sync', byTag, byDigest)
  assert.equal((await c.ctr('content', 'ls', '-q')).stdout.trim(), '')
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
    await pullBoth(c, hostsDir, upstreamHost, image)

    await upstream.close()
    await pullBoth(c, hostsDir, upstreamHost, image)
  })
})
