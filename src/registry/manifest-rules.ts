// What a pushed manifest must be (image-spec manifest.md and image-index.md; Docker's
// image-manifest-v2-2): which media types are accepted, what each one references, and the
// descriptor the referrers API lists for it.
import { Digest } from './digest.js'
import { RegistryError } from './errors.js'

export const MEDIA_TYPES = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const

const IMAGE_TYPES: ReadonlySet<string> = new Set([
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerManifest,
])
const INDEX_TYPES: ReadonlySet<string> = new Set([MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerList])

/** Layers that live elsewhere and need not be in the repository (image-spec layer.md). */
const FOREIGN_LAYER_TYPES: ReadonlySet<string> = new Set([
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
])

export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024

export interface ParsedDescriptor {
  mediaType: string
  digest: Digest
  size: number
}

export interface ParsedManifest {
  mediaType: string
  /** blobs that must be in the repository: an image's config and layers */
  blobs: ParsedDescriptor[]
  /** manifests that must be in the repository: an index's children */
  manifests: ParsedDescriptor[]
  subject?: ParsedDescriptor
  /** what the referrers API reports (image-spec: artifactType, else config.mediaType) */
  artifactType?: string
  annotations?: Record<string, string>
}

function invalid(message: string): RegistryError {
  return new RegistryError('MANIFEST_INVALID', message)
}

function descriptor(value: unknown, where: string): ParsedDescriptor {
  const d = value as Record<string, unknown> | null
  if (typeof d !== 'object' || d === null) throw invalid(`${where} is not a descriptor`)
  if (typeof d.mediaType !== 'string') throw invalid(`${where}.mediaType must be a string`)
  if (typeof d.digest !== 'string') throw invalid(`${where}.digest must be a string`)
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw invalid(`${where}.size must be a non-negative integer`)
  }
  let digest: Digest
  try {
    digest = Digest.parse(d.digest)
  } catch {
    throw invalid(`${where}.digest ${JSON.stringify(d.digest)} is not a valid digest`)
  }
  return { mediaType: d.mediaType, digest, size: d.size }
}

function descriptors(value: unknown, where: string): ParsedDescriptor[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) throw invalid(`${where} must be an array`)
  return value.map((d, i) => descriptor(d, `${where}[${i}]`))
}

/** Strip parameters: "SHOULD ignore parameters on the Content-Type header" (distribution-spec). */
export function baseMediaType(contentType: string | undefined): string | undefined {
  return contentType?.split(';')[0].trim().toLowerCase() || undefined
}

/**
 * Parse and check a pushed manifest. The media type comes from the body's `mediaType` field
 * when present, else from Content-Type; the two must agree when both are given.
 */
export function parseManifest(bytes: Uint8Array, contentType: string | undefined): ParsedManifest {
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new RegistryError('MANIFEST_TOO_LARGE', `manifest exceeds ${MAX_MANIFEST_BYTES} bytes`)
  }
  let doc: Record<string, unknown>
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch {
    throw invalid('manifest is not valid JSON')
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw invalid('manifest must be a JSON object')
  }
  if (doc.schemaVersion !== 2) throw invalid('schemaVersion must be 2')
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : undefined
  const header = baseMediaType(contentType)
  if (declared && header && declared !== header) {
    throw invalid(`mediaType ${declared} does not match Content-Type ${header}`)
  }
  const mediaType = declared ?? header
  if (!mediaType) throw invalid('manifest media type unknown: set Content-Type or mediaType')
  const annotations = stringMap(doc.annotations, 'annotations')
  const subject = doc.subject === undefined ? undefined : descriptor(doc.subject, 'subject')
  const artifactType = typeof doc.artifactType === 'string' ? doc.artifactType : undefined

  if (IMAGE_TYPES.has(mediaType)) {
    if (doc.manifests !== undefined) throw invalid('an image manifest has no manifests field')
    const config = descriptor(doc.config, 'config')
    const layers = descriptors(doc.layers, 'layers')
    const stored = layers.filter(
      (l, i) => !FOREIGN_LAYER_TYPES.has(l.mediaType) || !hasUrls(doc, i),
    )
    return {
      mediaType,
      blobs: [config, ...stored],
      manifests: [],
      subject,
      artifactType: artifactType ?? config.mediaType,
      annotations,
    }
  }
  if (INDEX_TYPES.has(mediaType)) {
    if (doc.layers !== undefined || doc.config !== undefined) {
      throw invalid('an image index has no config or layers')
    }
    const manifests = descriptors(doc.manifests ?? [], 'manifests')
    return { mediaType, blobs: [], manifests, subject, artifactType, annotations }
  }
  throw new RegistryError('MANIFEST_INVALID', `unsupported manifest media type ${mediaType}`)
}

function hasUrls(doc: Record<string, unknown>, layer: number): boolean {
  const urls = (doc.layers as Array<{ urls?: unknown }>)[layer]?.urls
  return Array.isArray(urls) && urls.length > 0
}

function stringMap(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(`${where} must be an object of strings`)
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw invalid(`${where}.${k} must be a string`)
  }
  return value as Record<string, string>
}
