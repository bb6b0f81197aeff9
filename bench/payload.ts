// Benchmark content, generated as it is sent so no blob is ever held whole. Block i of blob
// `seed` is a 16-byte header naming (seed, i) followed by the tail of one fixed pseudo-random
// MiB: every blob is distinct, every run produces the same bytes, and sending a GiB costs two
// writes per MiB and no copies.
import { createHash } from 'node:crypto'

export const MIB = 1024 * 1024
const HEADER_BYTES = 16

/** The fixed pseudo-random MiB (SHAKE256 of a constant, so digests are reproducible). */
const BASE = createHash('shake256', { outputLength: MIB }).update('outpost-bench').digest()
const TAIL = BASE.subarray(HEADER_BYTES)

function header(seed: number, block: number): Buffer {
  const bytes = Buffer.allocUnsafe(HEADER_BYTES)
  bytes.writeUInt32BE(seed, 0)
  bytes.writeUInt32BE(block, 4)
  bytes.write('outpost!', 8, 'latin1')
  return bytes
}

/** The pieces of MiB blocks [first, first + count) of blob `seed`, in order. */
export function* blockPieces(seed: number, first: number, count: number): Generator<Buffer> {
  for (let block = first; block < first + count; block++) {
    yield header(seed, block)
    yield TAIL
  }
}

/** The sha256 digest of the `mib`-MiB blob `seed`, computed by streaming it once. */
export function blobDigest(seed: number, mib: number): string {
  const hash = createHash('sha256')
  for (const piece of blockPieces(seed, 0, mib)) hash.update(piece)
  return `sha256:${hash.digest('hex')}`
}

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`
}

/** A small distinct blob of `size` bytes (a layer of a small image). */
export function smallBlob(seed: number, size: number): Buffer {
  const bytes = Buffer.allocUnsafe(size)
  BASE.copy(bytes, 0, (seed * 4099) % (MIB - size), ((seed * 4099) % (MIB - size)) + size)
  header(seed, 0xffffffff).copy(bytes, 0)
  return bytes
}

export interface SmallImage {
  blobs: Buffer[]
  blobDigests: string[]
  manifest: Buffer
  manifestDigest: string
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'

/** Layer sizes of the small images: 4 to 64 KiB, spread evenly and the same on every run. */
export function smallLayerSize(n: number, layer: number): number {
  return (4 + ((n * 7 + layer * 23) % 61)) * 1024
}

/** Image `n`: a config, three layers of 4 to 64 KiB and an OCI image manifest, all unique to `n`. */
export function smallImage(n: number): SmallImage {
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Env: [`BENCH_IMAGE=${n}`] } }),
  )
  const layers = [0, 1, 2].map((i) => smallBlob(3 * n + 1_000_000 + i, smallLayerSize(n, i)))
  const blobs = [config, ...layers]
  const blobDigests = blobs.map(sha256)
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: blobDigests[0],
        size: config.length,
      },
      layers: layers.map((layer, i) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: blobDigests[i + 1],
        size: layer.length,
      })),
    }),
  )
  return { blobs, blobDigests, manifest, manifestDigest: sha256(manifest) }
}
