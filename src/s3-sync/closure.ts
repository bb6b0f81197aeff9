// What a repository's index.json makes reachable: every manifest (index children included) and
// every config and layer they reference, in an order that puts each item after everything it
// references. Sync uploads (and seeds) in this order and writes index.json last, so a half-synced
// repository is never visible with content missing. Manifests are read whole (they are small)
// and checked against their digest; other blobs are checked as they stream.
import { layoutKeys, parseIndex, type IndexDocument } from '../layout/index.js'
import { Digest, MAX_MANIFEST_BYTES } from '../registry/index.js'
import { StorageNotFoundError, type StorageDriver } from '../storage/index.js'

export interface ClosureItem {
  digest: Digest
  size: number
  /** set for a manifest: its bytes and media type (from the descriptor that names it) */
  manifest?: { bytes: Buffer; mediaType: string }
}

export interface RepoSnapshot {
  indexBytes: Buffer
  index: IndexDocument
  /** blobs and manifests, each after what it references */
  items: ClosureItem[]
}

interface Described {
  digest?: unknown
  size?: unknown
  mediaType?: unknown
}

function descriptors(doc: Record<string, unknown>): { blobs: Described[]; manifests: Described[] } {
  const list = (v: unknown) => (Array.isArray(v) ? (v as Described[]) : [])
  const blobs = [...(doc.config ? [doc.config as Described] : []), ...list(doc.layers)]
  return { blobs, manifests: list(doc.manifests) }
}

function parseDescriptor(d: Described, where: string): { digest: Digest; size: number } {
  if (typeof d.digest !== 'string' || typeof d.size !== 'number')
    throw new Error(`${where}: a descriptor without digest or size`)
  return { digest: Digest.parse(d.digest), size: d.size }
}

/** The repository's index.json and closure, or null when it has no index.json. */
export async function snapshotRepo(
  driver: StorageDriver,
  repo: string,
): Promise<RepoSnapshot | null> {
  let indexBytes: Buffer
  try {
    indexBytes = await driver.get(layoutKeys.index(repo))
  } catch (err) {
    if (err instanceof StorageNotFoundError) return null
    throw err
  }
  const index = parseIndex(indexBytes, layoutKeys.index(repo))
  const items: ClosureItem[] = []
  const seen = new Set<string>()

  const visitManifest = async (d: Described, mediaType: string): Promise<void> => {
    const { digest, size } = parseDescriptor(d, `${repo} index`)
    if (seen.has(digest.toString())) return
    seen.add(digest.toString())
    if (size > MAX_MANIFEST_BYTES) throw new Error(`${repo}: manifest ${digest} is too large`)
    const bytes = await driver.get(layoutKeys.blob(repo, digest))
    if (!Digest.of(digest.algorithm, bytes).equals(digest))
      throw new Error(`${repo}: manifest ${digest} does not match its digest`)
    const doc = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>
    const { blobs, manifests } = descriptors(doc)
    for (const child of manifests)
      await visitManifest(child, typeof child.mediaType === 'string' ? child.mediaType : '')
    for (const blob of blobs) {
      const b = parseDescriptor(blob, `${repo} manifest ${digest}`)
      if (seen.has(b.digest.toString())) continue
      seen.add(b.digest.toString())
      items.push(b)
    }
    items.push({ digest, size: bytes.length, manifest: { bytes, mediaType } })
  }

  for (const desc of index.manifests) await visitManifest(desc, desc.mediaType)
  return { indexBytes, index, items }
}
