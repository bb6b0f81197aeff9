// zot's `onlySigned` (extensions.sync.registries[]): only images that carry a signature upstream
// are synced, by the periodic mirror and on demand alike. As zot decides it (pkg/extensions/sync
// service.go syncImage, referrers.go hasSignatureReferrers): the image's digest (an index's own
// digest, never its children's) has a referrer that is a signature (a notation signature, a
// cosign signature or sigstore bundle by artifactType, or a descriptor named like cosign's
// `sha256-<hex>.sig`), or, with `syncLegacyCosignTags`, the upstream repository holds cosign's
// tag `sha256-<hex>.sig`. Signatures are looked for, not verified (zot does not verify either).
// A tag standing for another manifest's referrers (cosign's tags, the referrers tag schema) and
// a manifest with a `subject` are content about an image, synced with it: never asked about.
import { RegistryError, type LogFn } from '../registry/index.js'
import { referrerTagKind } from './mirror-selection.js'
import type { PendingManifest } from './pending-manifests.js'
import {
  fetchUpstreamManifest,
  upstreamReferrerListing,
  upstreamTagDigest,
  type Route,
} from './upstream-fetch.js'

/** notation's signature artifactType (notaryproject specs, "Signature Specification"). */
export const NOTATION_SIGNATURE = 'application/vnd.cncf.notary.signature'
/** cosign's signature artifactTypes: the legacy one and the sigstore bundle. */
export const COSIGN_SIGNATURES = [
  'application/vnd.dev.cosign.artifact.sig.v1+json',
  'application/vnd.dev.sigstore.bundle.v0.3+json',
]

/** A descriptor as a referrers listing gives it (image-spec descriptor.md). */
export interface ReferrerDescriptor {
  digest?: unknown
  artifactType?: unknown
  annotations?: Record<string, unknown>
}

const REF_NAME = 'org.opencontainers.image.ref.name'

/** Whether a referrer is a signature (zot: hasSignatureReferrers). */
export function isSignatureReferrer(d: ReferrerDescriptor): boolean {
  const type = typeof d.artifactType === 'string' ? d.artifactType : ''
  if (type === NOTATION_SIGNATURE || COSIGN_SIGNATURES.includes(type)) return true
  const name = d.annotations?.[REF_NAME]
  return typeof name === 'string' && cosignSignatureTag(name)
}

const cosignSignatureTag = (tag: string) => /^sha(?:256|512)-[a-f0-9]+\.sig$/.test(tag)

/** Whether `onlySigned` asks about `reference` at all (zot exempts signatures themselves). */
export function signatureRequired(route: Route, reference: string): boolean {
  return route.settings.onlySigned && referrerTagKind(reference) === undefined
}

/** The 404 an unsigned image gets: on demand it is a manifest this edge does not have. */
export class ImageNotSigned extends RegistryError {
  constructor(
    readonly upstream: string,
    image: string,
    readonly digest: string,
  ) {
    super(
      'MANIFEST_UNKNOWN',
      `manifest unknown: upstream ${upstream} image ${image} (${digest}) is not signed and onlySigned is set`,
      { upstream, digest },
    )
    this.name = 'ImageNotSigned'
  }
}

/** What a caller already holds, so that checking costs no request it would make anyway. */
export interface KnownReferrers {
  /** the upstream repository's tags (the mirror lists them): cosign's tag is looked up there */
  tags?: readonly string[]
  /** the referrers API's answer for the digest, fetched here when absent and handed back */
  listing?: { manifests: ReferrerDescriptor[]; api: boolean }
  /** a manifest fetched by tag here, handed to the caller to store (the referrers tag schema) */
  fetched?: Map<string, Awaited<ReturnType<typeof fetchUpstreamManifest>>>
}

/**
 * How `digest` is signed upstream, or undefined when it is not. Requests, cheapest first: the
 * referrers API (one GET, which the mirror reuses to copy referrers); cosign's tag (free from
 * `known.tags`, else one HEAD); the referrers tag schema only where the upstream has no
 * referrers API (one GET, kept in `known.fetched`).
 */
export async function upstreamSignature(
  route: Route,
  repo: string,
  digest: string,
  known: KnownReferrers = {},
): Promise<'referrer' | 'cosign-tag' | undefined> {
  const base = digest.replace(':', '-')
  const sigTag = `${base}.sig`
  const legacy = route.settings.syncLegacyCosignTags
  if (legacy && known.tags?.includes(sigTag)) return 'cosign-tag'
  known.listing ??= await upstreamReferrerListing(route, digest, undefined)
  if (known.listing.manifests.some(isSignatureReferrer)) return 'referrer'
  if (legacy && !known.tags && (await upstreamTagDigest(route, sigTag)) !== undefined) {
    return 'cosign-tag'
  }
  if (known.listing.api || (known.tags && !known.tags.includes(base))) return undefined
  // distribution-spec "Referrers Tag Schema": an upstream without the API lists them there.
  const tagged = await fetchUpstreamManifest(route, repo, base, true).catch((err: unknown) => {
    if (err instanceof RegistryError && err.code === 'MANIFEST_UNKNOWN') return undefined
    throw err
  })
  if (!tagged) return undefined
  known.fetched?.set(base, tagged)
  const listed = JSON.parse(tagged.bytes.toString('utf8')) as { manifests?: unknown }
  const manifests = Array.isArray(listed.manifests)
    ? (listed.manifests as ReferrerDescriptor[])
    : []
  return manifests.some(isSignatureReferrer) ? 'referrer' : undefined
}

/** Throws ImageNotSigned unless `digest` is signed upstream. */
export async function requireSignature(
  route: Route,
  repo: string,
  image: string,
  digest: string,
  known: KnownReferrers = {},
): Promise<void> {
  if (await upstreamSignature(route, repo, digest, known)) return
  throw new ImageNotSigned(route.client.name, image, digest)
}

/**
 * On demand: which fetched manifests may be served. A client pulls an index by tag, then its
 * children by digest; zot checks the index's digest only, so the children of an index found
 * signed are admitted until fetched. Not asked either: referrer tags, and a referrer fetched by
 * digest (it has a subject: zot syncs referrers with their image, unchecked).
 */
export class SignedAdmission {
  /** `${repo}@${digest}` */
  private readonly children = new Set<string>()

  /** Throws ImageNotSigned (404 MANIFEST_UNKNOWN) for an image not signed upstream. */
  async admit(route: Route, entry: PendingManifest, reference: string, log: LogFn): Promise<void> {
    if (!signatureRequired(route, reference)) return
    const key = `${entry.repo}@${entry.digest}`
    const byDigest = reference.includes(':')
    if (!byDigest || (entry.subject === undefined && !this.children.has(key))) {
      const image = `${route.remote}${byDigest ? '@' : ':'}${reference}`
      await requireSignature(route, entry.repo, image, entry.digest).catch((err: unknown) => {
        if (err instanceof ImageNotSigned) {
          log('pull-through: not serving an image without mandatory signature', {
            repo: entry.repo,
            reference,
            digest: entry.digest,
          })
        }
        throw err
      })
    }
    this.children.delete(key)
    for (const child of entry.children) this.children.add(`${entry.repo}@${child}`)
  }
}
