// What an export reads: each REF (repo:tag, repo@digest; a bare repo means repo:latest) resolved
// to its manifest, and an index's children with it: a multi-platform image is exported whole.
// docker-archive holds single-platform images only: for an index, --platform picks the image;
// without it, the index must hold exactly one runnable platform (attestation manifests, with
// platform unknown/unknown, do not count), else the export is refused with the choices listed.
import { createHash } from 'node:crypto'
import { ArchiveError } from './entries.js'
import { parseImageName } from './names.js'
import type { RegistryAccess, StoredManifest } from './registry-access.js'

const INDEX_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
])

export interface BlobRef {
  digest: string
  size: number
  mediaType: string
}

export interface ExportImage {
  repo: string
  tag?: string
  top: StoredManifest
  /** an index's children, in index order */
  children: StoredManifest[]
  /** configs and layers of every image manifest in it */
  blobs: BlobRef[]
}

interface Parsed {
  mediaType?: string
  manifests?: Array<BlobRef & { platform?: Platform }>
  config?: BlobRef
  layers?: BlobRef[]
}

interface Platform {
  os?: string
  architecture?: string
  variant?: string
}

export function isIndex(m: StoredManifest): boolean {
  return INDEX_TYPES.has(m.mediaType)
}

export function parsed(m: StoredManifest): Parsed {
  return JSON.parse(m.bytes.toString('utf8')) as Parsed
}

/** A manifest fetched and checked against the digest it is stored under. */
async function fetchManifest(
  access: RegistryAccess,
  repo: string,
  reference: string,
): Promise<StoredManifest> {
  const m = await access.getManifest(repo, reference)
  const digest = `sha256:${createHash('sha256').update(m.bytes).digest('hex')}`
  if (m.digest && m.digest.startsWith('sha256:') && m.digest !== digest) {
    throw new ArchiveError(`manifest ${repo}@${m.digest} read back with digest ${digest}`)
  }
  return { ...m, digest: m.digest || digest }
}

export async function resolveImage(access: RegistryAccess, ref: string): Promise<ExportImage> {
  const name = parseImageName(ref)
  const repo = name.repo!
  const tag = name.digest ? undefined : (name.tag ?? 'latest')
  const top = await fetchManifest(access, repo, name.digest ?? tag!)
  const children: StoredManifest[] = []
  const blobs = new Map<string, BlobRef>()
  const addBlobs = (m: StoredManifest) => {
    const p = parsed(m)
    for (const b of [p.config, ...(p.layers ?? [])]) {
      if (!b?.digest) throw new ArchiveError(`manifest ${m.digest} has a descriptor without digest`)
      // Layers that live elsewhere are not in the registry to export (image-spec layer.md).
      if (/foreign|nondistributable/.test(b.mediaType ?? '')) continue
      blobs.set(b.digest, { digest: b.digest, size: b.size, mediaType: b.mediaType })
    }
  }
  if (isIndex(top)) {
    for (const child of parsed(top).manifests ?? []) {
      const m = await fetchManifest(access, repo, child.digest)
      if (isIndex(m)) throw new ArchiveError(`${ref}: nested indexes are not supported`)
      children.push(m)
      addBlobs(m)
    }
  } else addBlobs(top)
  return { repo, tag, top, children, blobs: [...blobs.values()] }
}

function platformText(p: Platform | undefined): string {
  return [p?.os ?? 'unknown', p?.architecture ?? 'unknown', p?.variant]
    .filter((x) => x !== undefined)
    .join('/')
}

/**
 * The single-platform image docker-archive needs: the image itself, or the index's child for
 * `platform` ("os/arch[/variant]"). Returns the image and the platform chosen.
 */
export function singlePlatform(
  image: ExportImage,
  platform: string | undefined,
  ref: string,
): { image: ExportImage; chosen?: string } {
  if (!isIndex(image.top)) return { image }
  const entries = (parsed(image.top).manifests ?? []).map((d, i) => ({
    text: platformText(d.platform),
    manifest: image.children[i],
  }))
  const runnable = entries.filter((e) => e.text !== 'unknown/unknown')
  const wanted = platform
    ? runnable.filter((e) => e.text === platform || e.text.startsWith(`${platform}/`))
    : runnable
  if (wanted.length !== 1) {
    const choices = runnable.map((e) => e.text).join(', ')
    throw new ArchiveError(
      platform
        ? `${ref} has no single image for platform ${platform} (it has: ${choices})`
        : `${ref} is a multi-platform index (${choices}): docker-archive holds one platform, ` +
            'choose it with --platform OS/ARCH[/VARIANT], or export as oci-archive',
    )
  }
  const m = wanted[0].manifest
  const p = parsed(m)
  const blobs = [p.config!, ...(p.layers ?? [])]
  return { image: { ...image, top: m, children: [], blobs }, chosen: wanted[0].text }
}
