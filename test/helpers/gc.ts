// Helpers for the garbage-collection tests: a GC policy and a collector with the config's
// defaults, and pull checks that prove an image is whole (every blob present and byte-correct).
import assert from 'node:assert/strict'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { parseConfig } from '../../src/config/index.js'
import { GarbageCollector } from '../../src/gc/index.js'
import type { Registry } from '../../src/registry/index.js'
import type { GcPolicy } from '../../src/gc/index.js'
import { makeImage, pushImage, sha256, type InMemoryRegistry, type TestImage } from './harness.js'

type Requester = (path: string, init?: RequestInit) => Promise<Response>

export const MINUTE = 60_000
export const HOUR = 60 * MINUTE
export const DAY = 24 * HOUR

/** The policy the default config gives every repository (gcDelay 1h, delete both), overridable. */
export function gcPolicy(overrides: Partial<GcPolicy> = {}): GcPolicy {
  return {
    delayMs: HOUR,
    manifestDelayMs: HOUR,
    deleteUntagged: true,
    deleteReferrers: true,
    dryRun: false,
    retentionDryRun: false,
    ...overrides,
  }
}

/**
 * A collector over `registry` configured as the `storage` section of a config file says
 * (gcDelay, retention), validated and resolved as `outpost serve` does.
 */
export function collectorFor(
  registry: Registry,
  storage: Record<string, unknown> = {},
  log: (msg: string, fields?: Record<string, unknown>) => void = () => {},
  pause: () => Promise<void> = async () => {},
): GarbageCollector {
  const config = parseConfig(JSON.stringify({ storage: { rootDirectory: '/unused', ...storage } }))
  return new GarbageCollector({
    registry,
    delayMs: config.storage.gc.delayMs,
    retention: config.storage.retention,
    log,
    pause,
  })
}

export interface Pulled {
  digest: string
  bytes: Buffer
  /** blob digests the manifest references (config and layers), each checked */
  blobs: string[]
}

/**
 * Pull `repo:ref` the way a client does: the manifest, then (for an index) each child manifest,
 * and every config and layer, checking each against its digest. Fails the test if anything is
 * missing or wrong.
 */
export async function pullWhole(request: Requester, repo: string, ref: string): Promise<Pulled> {
  const res = await request(`/v2/${repo}/manifests/${ref}`)
  const bytes = Buffer.from(await res.arrayBuffer())
  assert.equal(res.status, 200, `${repo}:${ref}: ${bytes.toString()}`)
  const digest = sha256(bytes)
  assert.equal(res.headers.get('docker-content-digest'), digest)
  const doc = JSON.parse(bytes.toString('utf8')) as {
    manifests?: Array<{ digest: string }>
    config?: { digest: string }
    layers?: Array<{ digest: string }>
  }
  const blobs: string[] = []
  for (const child of doc.manifests ?? [])
    blobs.push(...(await pullWhole(request, repo, child.digest)).blobs)
  for (const blob of [doc.config, ...(doc.layers ?? [])]) {
    if (!blob) continue
    const got = await request(`/v2/${repo}/blobs/${blob.digest}`)
    const content = Buffer.from(await got.arrayBuffer())
    assert.equal(got.status, 200, `${repo}: blob ${blob.digest} of ${ref} is missing`)
    assert.equal(sha256(content), blob.digest, `${repo}: blob ${blob.digest} is not byte-correct`)
    blobs.push(blob.digest)
  }
  return { digest, bytes, blobs }
}

/** HTTP status of HEAD on a blob (200 present, 404 gone). */
export async function blobStatus(
  request: Requester,
  repo: string,
  digest: string,
): Promise<number> {
  return (await request(`/v2/${repo}/blobs/${digest}`, { method: 'HEAD' })).status
}

/** HTTP status of HEAD on a manifest by tag or digest. */
export async function manifestStatus(
  request: Requester,
  repo: string,
  ref: string,
): Promise<number> {
  return (await request(`/v2/${repo}/manifests/${ref}`, { method: 'HEAD' })).status
}

export async function catalog(request: Requester): Promise<string[]> {
  const res = await request('/v2/_catalog')
  assert.equal(res.status, 200)
  return ((await res.json()) as { repositories: string[] }).repositories
}

/** Let other queued work run `n` times (varies interleavings without sleeping). */
export async function yieldTimes(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve))
}

/** Push a new image made from `seed` under `tag`; fails the test unless it is stored. */
export async function push(
  reg: InMemoryRegistry,
  repo: string,
  seed: string,
  tag: string,
  layers = 1,
): Promise<TestImage> {
  const image = makeImage(seed, layers)
  assert.equal((await pushImage(reg.request, repo, image, tag)).status, 201)
  return image
}

/** How many names share the inode of `repo`'s copy of a blob (hard links). */
export async function links(root: string, repo: string, digest: string): Promise<number> {
  return (await stat(join(root, repo, 'blobs', 'sha256', digest.slice('sha256:'.length)))).nlink
}
