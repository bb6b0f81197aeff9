// Exporting images from a registry as an oci-archive (a tar of an OCI image layout), an OCI
// layout directory (oci-dir) or a docker-archive ("docker save" format, readable by docker load
// and skopeo). Every blob is checked against its digest as it streams out; a mismatch aborts the
// export and leaves nothing at the target. The metadata (oci-layout, index.json, manifest.json)
// is written first, so a reader learns the names before the blobs. Progress is in the bytes the
// export writes (a tar's headers and padding included): its total is the size of what it makes.
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import { ArchiveError } from './entries.js'
import { parsed, resolveImage, singlePlatform, type ExportImage } from './export-plan.js'
import { refNameOf } from './names.js'
import type { RegistryAccess } from './registry-access.js'
import { dirSink, jsonBytes, tarSink, writeBytes, type Sink } from './sinks.js'

export type ExportFormat = 'oci-archive' | 'docker-archive' | 'oci-dir'
export const EXPORT_FORMATS: ExportFormat[] = ['oci-archive', 'docker-archive', 'oci-dir']

export interface ExportOptions {
  access: RegistryAccess
  format: ExportFormat
  output: string
  /** docker-archive of an index: which platform (os/arch[/variant]) */
  platform?: string
  onProgress?: (p: ExportProgress) => void
}

/**
 * "write": bytes written to the output, of the total it will hold. "measure" comes first for a
 * docker-archive with gzip layers: their compressed bytes, read once to learn the size each
 * takes uncompressed in the archive (a tar header states its entry's size up front).
 */
export interface ExportProgress {
  phase: 'measure' | 'write'
  done: number
  total: number
}

export interface ExportedImage {
  ref: string
  digest: string
  /** docker-archive of an index: the platform chosen */
  platform?: string
}

/** Counts bytes and hashes them as they pass; `check` throws when they do not match. */
async function* verified(
  body: AsyncIterable<Buffer>,
  digest: string,
  what: string,
  onBytes: (n: number) => void,
  expectedSize?: number,
): AsyncGenerator<Buffer> {
  const [algorithm] = digest.split(':')
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    throw new ArchiveError(`${what}: unsupported digest algorithm ${algorithm}`)
  }
  const hash = createHash(algorithm)
  let size = 0
  for await (const chunk of body) {
    hash.update(chunk)
    size += chunk.length
    onBytes(chunk.length)
    yield chunk
  }
  const actual = `${algorithm}:${hash.digest('hex')}`
  if (actual !== digest) throw new ArchiveError(`${what} reads back as ${actual}, not ${digest}`)
  if (expectedSize !== undefined && size !== expectedSize) {
    throw new ArchiveError(`${what} has ${size} bytes, not ${expectedSize}`)
  }
}

const blobName = (digest: string) => `blobs/${digest.replace(':', '/')}`

export async function exportImages(
  refs: string[],
  options: ExportOptions,
): Promise<ExportedImage[]> {
  if (refs.length === 0) throw new ArchiveError('nothing to export: give at least one REF')
  const { access } = options
  const images: ExportImage[] = []
  const exported: ExportedImage[] = []
  for (const ref of refs) {
    let image = await resolveImage(access, ref)
    let platform: string | undefined
    if (options.format === 'docker-archive') {
      const single = singlePlatform(image, options.platform, ref)
      image = single.image
      platform = single.chosen
    }
    images.push(image)
    exported.push({ ref, digest: image.top.digest, platform })
  }
  const meter = new WriteMeter(options)
  const sink =
    options.format === 'oci-dir'
      ? await dirSink(options.output, meter.written)
      : await tarSink(options.output, meter.written)
  try {
    if (options.format === 'docker-archive') await writeDocker(sink, images, options, meter)
    else await writeOci(sink, images, options, meter)
    await sink.finish()
  } catch (err) {
    await sink.abort()
    throw err
  }
  return exported
}

function progress(options: ExportOptions, phase: ExportProgress['phase'], total: number) {
  let done = 0
  options.onProgress?.({ phase, done, total })
  return (n: number) => options.onProgress?.({ phase, done: (done += n), total })
}

/** The sink's written bytes, reported as the "write" phase once the total is known. */
class WriteMeter {
  private onBytes?: (n: number) => void
  constructor(private readonly options: ExportOptions) {}
  start(total: number): void {
    this.onBytes = progress(this.options, 'write', total)
  }
  readonly written = (n: number): void => this.onBytes?.(n)
}

async function writeOci(
  sink: Sink,
  images: ExportImage[],
  options: ExportOptions,
  meter: WriteMeter,
) {
  const blobs = new Map<string, { repo: string; size: number }>()
  for (const image of images) {
    for (const b of image.blobs) blobs.set(b.digest, { repo: image.repo, size: b.size })
  }
  const manifests = new Map(
    images.flatMap((i) => [i.top, ...i.children]).map((m) => [m.digest, m.bytes]),
  )
  const layout = jsonBytes({ imageLayoutVersion: '1.0.0' })
  const index = jsonBytes({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: images.map((i) => ({
      mediaType: i.top.mediaType,
      digest: i.top.digest,
      size: i.top.bytes.length,
      annotations: {
        'org.opencontainers.image.ref.name': refNameOf({ ...i, digest: i.top.digest }),
      },
    })),
  })
  const algorithms = new Set([...blobs.keys(), ...manifests.keys()].map((d) => d.split(':')[0]))
  const others = [...blobs].filter(([digest]) => !manifests.has(digest))
  const sizes = [layout, index, ...manifests.values()].map((b) => b.length)
  meter.start(sink.footprint([...sizes, ...others.map(([, b]) => b.size)], 1 + algorithms.size))
  await writeBytes(sink, 'oci-layout', layout)
  await writeBytes(sink, 'index.json', index)
  await sink.directory('blobs/')
  for (const algorithm of algorithms) await sink.directory(`blobs/${algorithm}/`)
  for (const [digest, bytes] of manifests) await sink.file(blobName(digest), bytes.length, [bytes])
  for (const [digest, { repo, size }] of others) {
    const body = await options.access.readBlob(repo, digest)
    await sink.file(blobName(digest), size, verified(body, digest, `blob ${digest}`, noop, size))
  }
}

const noop = () => {}

/**
 * docker-archive: manifest.json, then each config as <hex>.json and each layer as <diff_id>.tar,
 * uncompressed as docker load expects (a gzip layer is decompressed twice: once to learn its
 * size for the tar header and check its diff_id, once to write it).
 */
async function writeDocker(
  sink: Sink,
  images: ExportImage[],
  options: ExportOptions,
  meter: WriteMeter,
) {
  const items = []
  const files = new Map<string, DockerFile>()
  for (const image of images) {
    const config = parsed(image.top).config
    const layers = parsed(image.top).layers ?? []
    if (!config) throw new ArchiveError(`${image.repo}: ${image.top.digest} is not an image`)
    const configBody = await options.access.readBlob(image.repo, config.digest)
    const configBytes = await readAll(verified(configBody, config.digest, 'config', () => {}))
    const diffIds: string[] =
      JSON.parse(configBytes.toString('utf8')).rootfs?.diff_ids ?? ([] as string[])
    if (diffIds.length !== layers.length) {
      throw new ArchiveError(
        `${image.top.digest}: ${layers.length} layers, ${diffIds.length} diff_ids`,
      )
    }
    const configName = `${config.digest.split(':')[1]}.json`
    files.set(configName, {
      repo: image.repo,
      digest: config.digest,
      size: config.size,
      gzip: false,
    })
    const layerNames = layers.map((layer, i) => {
      const gzip = /gzip/.test(layer.mediaType)
      if (!gzip && /zstd|\+/.test(layer.mediaType.replace('+json', ''))) {
        throw new ArchiveError(`layer ${layer.digest} (${layer.mediaType}) cannot be decompressed`)
      }
      if (!gzip && layer.digest !== diffIds[i]) {
        throw new ArchiveError(`layer ${layer.digest} does not match its diff_id ${diffIds[i]}`)
      }
      const name = `${diffIds[i].split(':')[1]}.tar`
      files.set(name, { repo: image.repo, digest: layer.digest, size: layer.size, gzip })
      return name
    })
    items.push({
      Config: configName,
      RepoTags: image.tag ? [`${image.repo}:${image.tag}`] : [],
      Layers: layerNames,
    })
  }
  const read = async (f: DockerFile, onBytes: (n: number) => void) =>
    verified(
      await options.access.readBlob(f.repo, f.digest),
      f.digest,
      `blob ${f.digest}`,
      onBytes,
      f.size,
    )
  const diffIdOf = (name: string) => `sha256:${name.slice(0, -'.tar'.length)}`
  // Each gzip layer's size in the archive, before anything is written.
  const gzipped = [...files].filter(([, f]) => f.gzip)
  const unpacked = new Map<string, number>()
  if (gzipped.length > 0) {
    const measured = progress(
      options,
      'measure',
      gzipped.reduce((n, [, f]) => n + f.size, 0),
    )
    for (const [name, f] of gzipped) {
      let size = 0
      const layer = verified(
        gunzip(await read(f, measured)),
        diffIdOf(name),
        `layer ${f.digest} (decompressed)`,
        noop,
      )
      for await (const chunk of layer) size += chunk.length
      unpacked.set(name, size)
    }
  }
  const manifest = jsonBytes(items)
  const sizes = [...files].map(([name, f]) => unpacked.get(name) ?? f.size)
  meter.start(sink.footprint([manifest.length, ...sizes], 0))
  await writeBytes(sink, 'manifest.json', manifest)
  for (const [name, f] of files) {
    const size = unpacked.get(name)
    if (size === undefined) {
      await sink.file(name, f.size, await read(f, noop))
      continue
    }
    const layer = verified(
      gunzip(await read(f, noop)),
      diffIdOf(name),
      `layer ${f.digest}`,
      noop,
      size,
    )
    await sink.file(name, size, layer)
  }
}

interface DockerFile {
  repo: string
  digest: string
  /** stored size (compressed, for a gzip layer) */
  size: number
  gzip: boolean
}

/** The decompressed bytes; an error on either side (a digest mismatch, bad gzip) surfaces. */
function gunzip(body: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  const out = createGunzip()
  pipeline(Readable.from(body), out).catch(() => {}) // pipeline destroys `out` with the error
  return out
}

async function readAll(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of body) chunks.push(c)
  return Buffer.concat(chunks)
}
