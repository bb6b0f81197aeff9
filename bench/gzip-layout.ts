// A one-layer OCI Image Layout for the real-client section (issue 17): one gzip-compressed layer
// (a tar of one file of seeded pseudo-random bytes, gzipped once at level 1), its config and an
// OCI image manifest tagged `v1`. The layer is compressed already so that `skopeo copy` to
// docker:// sends it as it is instead of timing its own gzip (image-spec, "Image Layer
// Filesystem Changeset": `+gzip` media type). Generated once per (seed, size) under a cache
// directory (BENCH_CACHE_DIR, default <tmpdir>/outpost-bench-cache) and reused by later runs:
// writing and compressing 512 MiB costs several seconds of both cores.
import { createCipheriv, createHash } from 'node:crypto'
import { createWriteStream, existsSync, readFileSync } from 'node:fs'
import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import { MIB, OCI_MANIFEST, sha256 } from './payload.js'

export interface GzipLayout {
  /** the layout's directory: `oci:<dir>:v1` for skopeo */
  dir: string
  tag: string
  manifestDigest: string
  layerDigest: string
  /** bytes of the compressed layer (what a push sends) */
  layerBytes: number
  /** bytes of the uncompressed file inside the tar */
  fileBytes: number
}

const LAYER_TYPE = 'application/vnd.oci.image.layer.v1.tar+gzip'

export function cacheDir(): string {
  return process.env.BENCH_CACHE_DIR || join(tmpdir(), 'outpost-bench-cache')
}

/** `mib` MiB of AES-128-CTR keystream keyed by `seed`: random-looking, reproducible, fast. */
function* seededBytes(seed: number, mib: number): Generator<Buffer> {
  const key = createHash('sha256').update(`outpost-real-client-${seed}`).digest()
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32))
  const zeros = Buffer.alloc(MIB)
  for (let i = 0; i < mib; i++) yield cipher.update(zeros)
}

/** A ustar header for one regular file (POSIX.1-2001 "pax" format, ustar fields only). */
function tarHeader(name: string, size: number): Buffer {
  const header = Buffer.alloc(512)
  const field = (text: string, offset: number, length: number) =>
    header.write(text, offset, length, 'latin1')
  const octal = (value: number, length: number) => value.toString(8).padStart(length - 1, '0')
  field(name, 0, 100)
  field(octal(0o644, 8), 100, 8)
  field(octal(0, 8), 108, 8)
  field(octal(0, 8), 116, 8)
  field(octal(size, 12), 124, 12)
  field(octal(0, 12), 136, 12)
  field('        ', 148, 8) // the checksum is summed with its own field as spaces
  field('0', 156, 1)
  field('ustar\u000000', 257, 8)
  let sum = 0
  for (const byte of header) sum += byte
  field(`${octal(sum, 7)}\u0000 `, 148, 8)
  return header
}

function* tarOf(name: string, seed: number, mib: number): Generator<Buffer> {
  yield tarHeader(name, mib * MIB)
  yield* seededBytes(seed, mib)
  yield Buffer.alloc(1024) // two zero blocks end the archive
}

/** Counts and hashes what passes through. */
function digester() {
  const hash = createHash('sha256')
  let bytes = 0
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk)
      bytes += chunk.length
      done(null, chunk)
    },
  })
  return { stream, result: () => ({ digest: `sha256:${hash.digest('hex')}`, bytes }) }
}

async function writeBlob(dir: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes)
  await writeFile(join(dir, 'blobs/sha256', digest.slice(7)), bytes)
  return digest
}

async function generate(dir: string, seed: number, mib: number): Promise<GzipLayout> {
  await mkdir(join(dir, 'blobs/sha256'), { recursive: true })
  const tar = digester()
  const gz = digester()
  const staged = join(dir, 'blobs/sha256/layer.partial')
  await pipeline(
    Readable.from(tarOf('payload.bin', seed, mib)),
    tar.stream,
    createGzip({ level: 1 }),
    gz.stream,
    createWriteStream(staged),
  )
  const diffId = tar.result().digest
  const layer = gz.result()
  await rename(staged, join(dir, 'blobs/sha256', layer.digest.slice(7)))
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [diffId] },
    }),
  )
  const configDigest = await writeBlob(dir, config)
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: configDigest,
        size: config.length,
      },
      layers: [{ mediaType: LAYER_TYPE, digest: layer.digest, size: layer.bytes }],
    }),
  )
  const manifestDigest = await writeBlob(dir, manifest)
  const index = {
    schemaVersion: 2,
    manifests: [
      {
        mediaType: OCI_MANIFEST,
        digest: manifestDigest,
        size: manifest.length,
        annotations: { 'org.opencontainers.image.ref.name': 'v1' },
      },
    ],
  }
  await writeFile(join(dir, 'index.json'), JSON.stringify(index))
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
  return {
    dir,
    tag: 'v1',
    manifestDigest,
    layerDigest: layer.digest,
    layerBytes: layer.bytes,
    fileBytes: mib * MIB,
  }
}

/** The cached layout for (seed, mib), generated first if it is not there yet. */
export async function gzipLayout(seed: number, mib: number): Promise<GzipLayout> {
  const dir = join(cacheDir(), `gzip-layout-${seed}-${mib}mib`)
  const done = join(dir, 'bench-layout.json')
  if (existsSync(done)) {
    const layout = JSON.parse(readFileSync(done, 'utf8')) as GzipLayout
    if (existsSync(join(dir, 'blobs/sha256', layout.layerDigest.slice(7)))) return layout
  }
  await rm(dir, { recursive: true, force: true })
  const began = performance.now()
  console.log(`generating a ${mib} MiB gzip layer (level 1) into ${dir}`)
  const layout = await generate(dir, seed, mib)
  console.log(`  ${((performance.now() - began) / 1000).toFixed(1)} s, cached for later runs`)
  await writeFile(done, JSON.stringify(layout, null, 2))
  return layout
}
