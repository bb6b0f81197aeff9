// The repository's index.json (image-spec image-layout.md "index.json file"): the list of
// manifests a repository holds. A tag is the `org.opencontainers.image.ref.name` annotation on an
// entry; an untagged entry keeps a manifest pushed by digest. Unknown fields written by other
// tools are kept as they are.

export const REF_NAME = 'org.opencontainers.image.ref.name'
export const INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json'
/**
 * On an index's entry: the children (comma-separated digests) the repository does not hold on
 * purpose — a mirror that took only some platforms stores the upstream's index as it is, so its
 * digest (and signatures over it) hold (image-spec image-index.md lets an index name manifests a
 * registry does not have). GC and scrub accept these absent; a GET of one answers 404.
 */
export const ABSENT_CHILDREN = 'dev.outpost.index.absent-children'

export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  annotations?: Record<string, string>
  artifactType?: string
  [extra: string]: unknown
}

export interface IndexDocument {
  schemaVersion: 2
  mediaType?: string
  manifests: Descriptor[]
  [extra: string]: unknown
}

export class LayoutCorruptError extends Error {
  constructor(what: string, cause?: unknown) {
    super(`corrupt layout: ${what}`, { cause })
    this.name = 'LayoutCorruptError'
  }
}

export function emptyIndex(): IndexDocument {
  return { schemaVersion: 2, mediaType: INDEX_MEDIA_TYPE, manifests: [] }
}

export function parseIndex(bytes: Uint8Array, where: string): IndexDocument {
  // A zero-length file is what ext4 leaves of an index.json renamed into place shortly before a
  // power cut without fsync (commit=false): the update was lost, and there is nothing to keep.
  if (bytes.length === 0) return emptyIndex()
  let doc: unknown
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch (err) {
    throw new LayoutCorruptError(`${where} is not JSON`, err)
  }
  const manifests = (doc as IndexDocument | null)?.manifests
  if (typeof doc !== 'object' || doc === null || !(Array.isArray(manifests) || manifests == null)) {
    throw new LayoutCorruptError(`${where} is not an image index`)
  }
  const index = doc as IndexDocument
  index.manifests = (manifests ?? []).filter(
    (d) => typeof d?.digest === 'string' && typeof d?.mediaType === 'string',
  )
  return index
}

/** Compact, as skopeo and umoci write it: an index.json is rewritten on every tag push. */
export function serializeIndex(doc: IndexDocument): Buffer {
  return Buffer.from(JSON.stringify(doc) + '\n')
}

function tagOf(d: Descriptor): string | undefined {
  return d.annotations?.[REF_NAME]
}

export function resolveTag(doc: IndexDocument, tag: string): Descriptor | undefined {
  for (let i = doc.manifests.length - 1; i >= 0; i--) {
    if (tagOf(doc.manifests[i]) === tag) return doc.manifests[i]
  }
  return undefined
}

export function findManifest(doc: IndexDocument, digest: string): Descriptor | undefined {
  return doc.manifests.find((d) => d.digest === digest)
}

export function listTags(doc: IndexDocument): string[] {
  const tags = new Set<string>()
  for (const d of doc.manifests) {
    const tag = tagOf(d)
    if (tag !== undefined) tags.add(tag)
  }
  return [...tags].sort(lexical)
}

export function lexical(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** The entry without its tag: only the absent-children record stays with it. */
function plain(desc: Descriptor): Descriptor {
  const { annotations, ...rest } = desc
  const absent = annotations?.[ABSENT_CHILDREN]
  return absent === undefined ? rest : { ...rest, annotations: { [ABSENT_CHILDREN]: absent } }
}

/**
 * Point `tag` at `desc`; the tag leaves any other manifest, which stays reachable by digest.
 * Whether the tag moved (false: it named `desc` already).
 */
export function setTag(doc: IndexDocument, tag: string, desc: Descriptor): boolean {
  const previous = resolveTag(doc, tag)
  if (previous?.digest === desc.digest) return false
  doc.manifests = doc.manifests.filter(
    (d) => tagOf(d) !== tag && !(d.digest === desc.digest && tagOf(d) === undefined),
  )
  const entry = plain(desc)
  doc.manifests.push({ ...entry, annotations: { ...entry.annotations, [REF_NAME]: tag } })
  if (previous) keepReachable(doc, previous)
  return true
}

/** The children of `digest` its entries say are absent on purpose (ABSENT_CHILDREN). */
export function absentChildren(desc: Descriptor): Set<string> {
  const text = desc.annotations?.[ABSENT_CHILDREN]
  return new Set(text ? text.split(',') : [])
}

/**
 * Record on every entry of `digest` which of its children are absent on purpose (none: the
 * record goes). Whether anything changed.
 */
export function setAbsentChildren(
  doc: IndexDocument,
  digest: string,
  absent: readonly string[],
): boolean {
  const value = [...absent].sort().join(',')
  let changed = false
  for (const d of doc.manifests) {
    if (d.digest !== digest || (d.annotations?.[ABSENT_CHILDREN] ?? '') === value) continue
    const { [ABSENT_CHILDREN]: _old, ...others } = d.annotations ?? {}
    const annotations = value ? { ...others, [ABSENT_CHILDREN]: value } : others
    if (Object.keys(annotations).length > 0) d.annotations = annotations
    else delete d.annotations
    changed = true
  }
  return changed
}

/** Record a manifest pushed by digest, unless the index already holds it. */
export function addUntagged(doc: IndexDocument, desc: Descriptor): boolean {
  if (findManifest(doc, desc.digest)) return false
  doc.manifests.push(plain(desc))
  return true
}

export function removeTag(doc: IndexDocument, tag: string): Descriptor | undefined {
  const previous = resolveTag(doc, tag)
  if (!previous) return undefined
  doc.manifests = doc.manifests.filter((d) => tagOf(d) !== tag)
  keepReachable(doc, previous)
  return previous
}

export function removeManifest(doc: IndexDocument, digest: string): boolean {
  const before = doc.manifests.length
  doc.manifests = doc.manifests.filter((d) => d.digest !== digest)
  return doc.manifests.length !== before
}

function keepReachable(doc: IndexDocument, desc: Descriptor): void {
  if (!findManifest(doc, desc.digest)) doc.manifests.push(plain(desc))
}
