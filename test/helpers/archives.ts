// Images with real tar layers, OCI layouts written by hand, tarballs crafted entry by entry, and
// skopeo: the material of the import/export tests (test/import-export.test.ts).
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import tar from 'tar-stream'
import { sha256 } from './harness.js'

const run = promisify(execFile)

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'

/** A tar of the given files, in memory (test layers are small). */
export async function tarOf(files: Record<string, string | Buffer>): Promise<Buffer> {
  const pack = tar.pack()
  for (const [name, body] of Object.entries(files)) pack.entry({ name, mtime: new Date(0) }, body)
  pack.finalize()
  const chunks: Buffer[] = []
  for await (const chunk of pack) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

export interface Blob {
  bytes: Buffer
  digest: string
  mediaType: string
}

export interface ArchiveImage {
  config: Blob
  layers: Blob[]
  manifest: Blob
  platform: { os: string; architecture: string }
}

function blob(bytes: Buffer, mediaType: string): Blob {
  return { bytes, digest: sha256(bytes), mediaType }
}

/**
 * An OCI image whose layers are real tars (gzip-compressed with `gzip`), and whose config lists
 * their diff_ids, so docker-archive conversions can be checked the way docker does.
 */
export async function archiveImage(
  seed: string,
  options: { layers?: number; gzip?: boolean; arch?: string; bigLayerBytes?: number } = {},
): Promise<ArchiveImage> {
  const platform = { os: 'linux', architecture: options.arch ?? 'amd64' }
  const raw: Buffer[] = []
  for (let i = 0; i < (options.layers ?? 2); i++) {
    const files: Record<string, string | Buffer> = { [`${seed}/file${i}.txt`]: `${seed} ${i}\n` }
    if (i === 0 && options.bigLayerBytes)
      files['big.bin'] = pseudoRandom(seed, options.bigLayerBytes)
    raw.push(await tarOf(files))
  }
  const diffIds = raw.map((r) => sha256(r))
  const layers = raw.map((r) =>
    options.gzip
      ? blob(gzipSync(r), 'application/vnd.oci.image.layer.v1.tar+gzip')
      : blob(r, 'application/vnd.oci.image.layer.v1.tar'),
  )
  const config = blob(
    Buffer.from(
      JSON.stringify({
        ...platform,
        config: { Cmd: ['/bin/true'], Labels: { seed } },
        rootfs: { type: 'layers', diff_ids: diffIds },
      }),
    ),
    'application/vnd.oci.image.config.v1+json',
  )
  const manifest = blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: descriptor(config),
        layers: layers.map(descriptor),
      }),
    ),
    OCI_MANIFEST,
  )
  return { config, layers, manifest, platform }
}

/** Deterministic incompressible bytes, so a "big" layer really is big on the wire. */
export function pseudoRandom(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size)
  let block = createHash('sha256').update(seed).digest()
  for (let at = 0; at < size; at += block.length) {
    block.copy(out, at)
    block = createHash('sha256').update(block).digest()
  }
  return out
}

export function descriptor(b: Blob): { mediaType: string; digest: string; size: number } {
  return { mediaType: b.mediaType, digest: b.digest, size: b.bytes.length }
}

/** A multi-platform index over the given images. */
export function indexOf(images: ArchiveImage[]): Blob {
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: images.map((i) => ({ ...descriptor(i.manifest), platform: i.platform })),
    }),
  )
  return blob(bytes, OCI_INDEX)
}

export interface LayoutEntry {
  /** the top-level manifest or index, and the blobs it needs */
  top: Blob
  images: ArchiveImage[]
  /** org.opencontainers.image.ref.name, when given */
  ref?: string
}

/** An OCI image layout directory, written the way skopeo's oci: transport does. */
export async function writeLayout(dir: string, entries: LayoutEntry[]): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true })
  const put = (b: Blob) => writeFile(join(dir, 'blobs', 'sha256', b.digest.slice(7)), b.bytes)
  for (const entry of entries) {
    for (const image of entry.images) {
      for (const b of [image.config, ...image.layers, image.manifest]) await put(b)
    }
    await put(entry.top)
  }
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }))
  const manifests = entries.map((e) => ({
    ...descriptor(e.top),
    ...(e.ref ? { annotations: { 'org.opencontainers.image.ref.name': e.ref } } : {}),
  }))
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests }))
}

/** A tar file made entry by entry: names, bodies and kinds exactly as given (bad ones too). */
export async function writeTar(
  file: string,
  entries: Array<{
    name: string
    body?: Buffer | string
    type?: 'file' | 'symlink'
    linkname?: string
  }>,
  options: { gzip?: boolean } = {},
): Promise<void> {
  const pack = tar.pack()
  for (const e of entries) {
    pack.entry({ name: e.name, type: e.type ?? 'file', linkname: e.linkname }, e.body ?? '')
  }
  pack.finalize()
  if (!options.gzip) return pipeline(pack, createWriteStream(file))
  const chunks: Buffer[] = []
  for await (const c of pack) chunks.push(c as Buffer)
  await writeFile(file, gzipSync(Buffer.concat(chunks)))
}

/** The entries of a tar file: name -> body. */
export async function readTar(file: string): Promise<Map<string, Buffer>> {
  const extract = tar.extract()
  const out = new Map<string, Buffer>()
  const done = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = []
      for await (const c of entry) chunks.push(c as Buffer)
      out.set(entry.header.name, Buffer.concat(chunks))
    }
  })()
  extract.end(await readFile(file))
  await done
  return out
}

export async function skopeo(...args: string[]): Promise<string> {
  const { stdout } = await run('skopeo', ['--insecure-policy', ...args], {
    maxBuffer: 64 * 1024 * 1024,
  })
  return stdout
}

/** The index.json of an OCI layout directory. */
export async function layoutIndex(dir: string): Promise<{
  manifests: Array<{ digest: string; mediaType: string; annotations?: Record<string, string> }>
}> {
  return JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'))
}
