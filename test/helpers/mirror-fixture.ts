// Content for the periodic-mirror tests, pushed to an upstream over HTTP (another Outpost or
// CNCF distribution): single-platform images under several tags, a two-platform index, a
// signature attached to the index through `subject` (and, where the upstream has no referrers
// API, listed under the referrers tag schema `sha256-<hex>`), and a cosign-style `.sig` tag.
// Layer bytes come from the seed, so a run can be replayed.
import { createCipheriv, createHash } from 'node:crypto'
import { resolveSync, syncSchema } from '../../src/config/sync.js'
import type { ContentRule, UpstreamSettings } from '../../src/config/sync-settings.js'
import { RegistryRouter } from '../../src/registry/index.js'
import type { MirrorDeps, Pacer } from '../../src/upstream/mirror/index.js'
import { UpstreamClient } from '../../src/upstream/upstream-client.js'
import { imageOf, sha256, type TestImage } from './harness.js'
import { pushToUpstream } from './upstream.js'
import type { Registry } from '../../src/registry/index.js'

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'

/** `length` bytes that depend only on `seed` and `label` (AES-128-CTR over zeros). */
export function seededBytes(seed: string, label: string, length: number): Buffer {
  const key = createHash('sha256').update(`${seed}/${label}`).digest()
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32))
  return cipher.update(Buffer.alloc(length))
}

export function platformImage(seed: string, label: string, arch: string, sizes: number[] = [64]) {
  const config = Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', label, seed }))
  return imageOf(
    config,
    sizes.map((n, i) => seededBytes(seed, `${label}/${i}`, n)),
  )
}

/**
 * A linux/amd64 and a linux/arm64 image (seeded bytes, one 4 KiB layer each) pushed by digest
 * to `repo` upstream, and an OCI index of the two tagged `tag`.
 */
export async function pushTwoPlatformIndex(url: string, seed: string, repo: string, tag: string) {
  const amd64 = platformImage(seed, 'multi/amd64', 'amd64', [4096])
  const arm64 = platformImage(seed, 'multi/arm64', 'arm64', [4096])
  await pushImage(url, repo, amd64, amd64.digest)
  await pushImage(url, repo, arm64, arm64.digest)
  const child = (img: TestImage, architecture: string) => ({
    mediaType: img.mediaType,
    digest: img.digest,
    size: img.manifest.length,
    platform: { os: 'linux', architecture },
  })
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [child(amd64, 'amd64'), child(arm64, 'arm64')],
    }),
  )
  await pushToUpstream(url, repo, [], index, OCI_INDEX, tag)
  return { amd64, arm64, index, indexDigest: sha256(index) }
}

export interface Fixture {
  /** app/one's tags -> image */
  one: Record<string, TestImage>
  amd64: TestImage
  arm64: TestImage
  index: Buffer
  indexDigest: string
  /** a signature whose subject is the index */
  signature: TestImage
  /** the manifest behind the cosign-style tag sha256-<hex of the index>.sig */
  cosign: TestImage
  /** the referrers-tag-schema index (pushed only when asked) */
  referrersTag?: Buffer
}

export async function pushImage(url: string, repo: string, image: TestImage, tag: string) {
  await pushToUpstream(
    url,
    repo,
    [image.config, ...image.layers],
    image.manifest,
    image.mediaType,
    tag,
  )
}

/** Push the fixture's content to the upstream at `url`. */
export async function pushFixture(
  url: string,
  seed: string,
  options: { referrersTagSchema?: boolean } = {},
): Promise<Fixture> {
  const one: Record<string, TestImage> = {}
  for (const tag of ['v1.0.0', 'v2.0.0-rc1', 'vnext', 'latest']) {
    one[tag] = platformImage(seed, `one/${tag}`, 'amd64')
    await pushImage(url, 'app/one', one[tag], tag)
  }
  await pushImage(url, 'other/x', platformImage(seed, 'other', 'amd64'), '1.0.0')
  const { amd64, arm64, index, indexDigest } = await pushTwoPlatformIndex(
    url,
    seed,
    'app/multi',
    '1.0',
  )
  const signature = imageOf(
    Buffer.from(JSON.stringify({ signed: indexDigest, seed })),
    [seededBytes(seed, 'sig', 100)],
    {
      artifactType: 'application/vnd.example.signature',
      subject: { mediaType: OCI_INDEX, digest: indexDigest, size: index.length },
    },
  )
  await pushImage(url, 'app/multi', signature, signature.digest)
  const cosign = imageOf(Buffer.from(JSON.stringify({ cosign: indexDigest, seed })), [
    seededBytes(seed, 'cosign', 80),
  ])
  await pushImage(url, 'app/multi', cosign, `${indexDigest.replace(':', '-')}.sig`)
  const fixture: Fixture = { one, amd64, arm64, index, indexDigest, signature, cosign }
  if (options.referrersTagSchema) {
    // distribution-spec "Referrers Tag Schema": an upstream without the referrers API lists a
    // subject's referrers in an index tagged sha256-<hex>.
    fixture.referrersTag = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          {
            mediaType: signature.mediaType,
            digest: signature.digest,
            size: signature.manifest.length,
            artifactType: 'application/vnd.example.signature',
          },
        ],
      }),
    )
    await pushToUpstream(
      url,
      'app/multi',
      [],
      fixture.referrersTag,
      OCI_INDEX,
      indexDigest.replace(':', '-'),
    )
  }
  return fixture
}

/** Resolved settings of one upstream, with `content` as given (platforms included). */
export function upstreamSettings(url: string, content: Partial<ContentRule>[]): UpstreamSettings {
  const raw = {
    enable: true,
    registries: [
      { urls: [url], onDemand: true, tlsVerify: false, maxRetries: 2, retryDelay: '20ms' },
    ],
  }
  const settings = resolveSync(syncSchema.parse(raw))!.registries[0]
  return {
    ...settings,
    content: content.map((c) => ({ prefix: '**', destination: '/', stripPrefix: false, ...c })),
  }
}

/** A pacer that lets everything through and counts what it was asked for. */
export function countingPacer(): Pacer & { taken: number } {
  const pacer = {
    taken: 0,
    async take(n: number) {
      pacer.taken += n
    },
  }
  return pacer
}

export function mirrorDeps(
  registry: Registry,
  settings: UpstreamSettings,
  pacer: Pacer,
): MirrorDeps & { client: UpstreamClient } {
  const router = new RegistryRouter(registry)
  return {
    router,
    client: new UpstreamClient(settings),
    pacer,
    log: () => {},
    pin: (repo, digest) => router.for(repo).pin(repo, digest),
  }
}
