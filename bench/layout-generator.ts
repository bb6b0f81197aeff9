// A storage root full of valid OCI Image Layouts, written straight to disk (no HTTP, no Outpost
// code): `repos` repositories `footprint/r<NNNN>`, each holding one image tagged `v1` whose
// config, layers and manifest are tiny blobs, `blobsPerRepo` blobs in all. It stands in for a
// device that has been in use for a while, so the bench can time how long Outpost takes to
// answer after a start; no `_outpost/` is written, as for a layout copied in with skopeo.
// Writes are plain (no fsync), a few thousand files a second.
import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { OCI_MANIFEST } from './payload.js'

export interface GeneratedLayout {
  repos: number
  blobs: number
  seconds: number
  /** one stored image (the middle repository), to check the server really serves the generated content */
  sample: { repo: string; tag: string; manifestDigest: string; layerDigest: string }
}

const REF_NAME = 'org.opencontainers.image.ref.name'

function hexOf(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** Write `bytes` as a blob of the layout at `dir`; returns its digest. */
function writeBlob(dir: string, bytes: Buffer): string {
  const hex = hexOf(bytes)
  writeFileSync(join(dir, 'blobs/sha256', hex), bytes)
  return `sha256:${hex}`
}

export function repoName(i: number): string {
  return `footprint/r${String(i).padStart(4, '0')}`
}

/** One repository: config + (blobsPerRepo - 2) layers + manifest, tagged v1. */
function writeRepository(root: string, i: number, blobsPerRepo: number) {
  const dir = join(root, repoName(i))
  mkdirSync(join(dir, 'blobs/sha256'), { recursive: true })
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
  const config = Buffer.from(JSON.stringify({ architecture: 'arm64', os: 'linux', repo: i }))
  const configDigest = writeBlob(dir, config)
  const layers = Array.from({ length: blobsPerRepo - 2 }, (_, n) => {
    const bytes = Buffer.from(`outpost footprint layer ${i}/${n}\n`)
    return { digest: writeBlob(dir, bytes), size: bytes.length }
  })
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: configDigest,
        size: config.length,
      },
      layers: layers.map(({ digest, size }) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest,
        size,
      })),
    }),
  )
  const manifestDigest = writeBlob(dir, manifest)
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: OCI_MANIFEST,
        digest: manifestDigest,
        size: manifest.length,
        annotations: { [REF_NAME]: 'v1' },
      },
    ],
  }
  writeFileSync(join(dir, 'index.json'), JSON.stringify(index))
  return { manifestDigest, layerDigest: layers[0].digest }
}

/** Fill `root` (an existing, empty directory) with `repos` repositories of `blobsPerRepo` blobs. */
export function generateLayout(root: string, repos = 1000, blobsPerRepo = 10): GeneratedLayout {
  if (blobsPerRepo < 3) throw new Error('a generated image needs at least 3 blobs')
  const began = performance.now()
  let sample: GeneratedLayout['sample'] | undefined
  for (let i = 0; i < repos; i++) {
    const written = writeRepository(root, i, blobsPerRepo)
    if (i === repos >> 1) sample = { repo: repoName(i), tag: 'v1', ...written }
  }
  const seconds = (performance.now() - began) / 1000
  return { repos, blobs: repos * blobsPerRepo, seconds, sample: sample! }
}
