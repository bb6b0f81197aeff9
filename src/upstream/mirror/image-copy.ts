// One image (a tag or a digest) copied from an upstream into the store by the periodic mirror.
// Blobs missing locally stream from the resumable download (src/upstream/resumable-blob.ts) into an
// upload session keyed by repository and digest (staged-pull.ts's id, shared with pull-through),
// so they are hashed once as they arrive, written once, and visible only once their digest
// matched; a cut or a restart continues the staged prefix with Range. Every chunk is paced.
// Order (distribution-spec "Pushing manifests": references must exist first): blobs, then each
// chosen child of an index, then the index as the upstream's bytes (children left out by
// `platforms` recorded absent, so its digest and signatures over it hold), the tag last. With
// `referrers` on, the image's referrers (referrers API, referrers tag schema `sha256-<hex>`,
// cosign `sha256-<hex>.sig|.att|.sbom`) are copied byte-identical after it. With `onlySigned`,
// an image unsigned upstream throws ImageNotSigned before anything of it is fetched but its
// manifest; the referrers listing and referrers tag the check fetched are reused to copy them.
import { Readable } from 'node:stream'
import { Digest, RegistryError, type Registry } from '../../registry/index.js'
import { absentAsUndefined } from '../evictor.js'
import { selectChildren, type IndexChild } from '../mirror-selection.js'
import type { PendingManifest } from '../pending-manifests.js'
import { openResumableBlob, UnusableBlobAnswer } from '../resumable-blob.js'
import {
  requireSignature,
  signatureRequired,
  type KnownReferrers,
  type ReferrerDescriptor,
} from '../signatures.js'
import { stagingSessionId } from '../staged-pull.js'
import {
  fetchUpstreamManifest,
  upstreamReferrers,
  upstreamTagDigest,
  type Route,
} from '../upstream-fetch.js'
import { parseManifest } from '../../registry/manifest-rules.js'
import type { MirrorDeps, PassEvent } from './types.js'

export interface CopyScope {
  deps: MirrorDeps
  route: Route
  /** the local repository */
  repo: string
  /** the upstream repository's tags: its referrer tags are found among them */
  upstreamTags: readonly string[]
  signal?: AbortSignal
  /** fetch manifests to learn sizes, store nothing */
  dryRun?: boolean
  progress?: (e: PassEvent) => void
}

/** What copying one image did (or, in a dry run, would do). */
export interface CopyOutcome {
  digest: string
  /** bytes fetched from the upstream (manifests included) */
  fetchedBytes: number
  /** dry run: bytes of blobs missing locally, which a pass would fetch */
  missingBytes: number
}

const referrerTag = (digest: string) => digest.replace(':', '-')

export async function copyImage(scope: CopyScope, reference: string): Promise<CopyOutcome> {
  const copy = new ImageCopy(scope)
  const digest = await copy.image(reference)
  return { digest, fetchedBytes: copy.fetched, missingBytes: copy.missing }
}

/**
 * An image already stored under its tag: its referrers may have grown upstream (a signature
 * added after the push), so they are looked up and copied; the image is (re)pinned.
 */
export async function refreshImage(scope: CopyScope, digest: string): Promise<CopyOutcome> {
  const copy = new ImageCopy(scope)
  if (!scope.dryRun) await scope.deps.pin(scope.repo, digest)
  if (scope.route.settings.referrers) await copy.refreshReferrers(digest)
  return { digest, fetchedBytes: copy.fetched, missingBytes: copy.missing }
}

class ImageCopy {
  fetched = 0
  missing = 0
  private readonly registry: Registry
  /** manifests handled in this copy (an index and its referrers may share children) */
  private readonly seen = new Set<string>()
  /** manifests the signature check fetched by tag, stored from here rather than fetched again */
  private readonly prefetched: NonNullable<KnownReferrers['fetched']> = new Map()

  constructor(private readonly s: CopyScope) {
    this.registry = s.deps.router.for(s.repo)
  }

  async image(reference: string): Promise<string> {
    const { route, repo, upstreamTags } = this.s
    const top = await this.fetchManifest(reference)
    const known: KnownReferrers = { tags: upstreamTags, fetched: this.prefetched }
    // zot checks the reference's own digest: an index's, not its children's.
    if (signatureRequired(route, reference)) {
      await requireSignature(route, repo, `${route.remote}:${reference}`, top.digest, known)
    }
    const stored = await this.store(top, reference)
    if (route.settings.referrers) {
      for (const subject of [top.digest, ...stored]) {
        await this.referrers(subject, subject === top.digest ? known.listing?.manifests : undefined)
      }
    }
    return top.digest
  }

  /** Store `m` under `reference` once all it references is stored; the children taken. */
  private async store(m: PendingManifest, reference: string): Promise<string[]> {
    this.seen.add(m.digest)
    let taken: string[] = []
    const absent = new Set<string>()
    if (m.children.length > 0) {
      const children = (JSON.parse(m.bytes.toString('utf8')) as { manifests: IndexChild[] })
        .manifests
      const { platforms } = this.s.route.rule
      taken = selectChildren(children, platforms, this.s.route.settings.referrers).map(
        (c) => c.digest,
      )
      for (const child of taken) await this.ensureManifest(child)
      for (const c of children) {
        if (!taken.includes(c.digest) && !(await this.hasManifest(c.digest))) absent.add(c.digest)
      }
    }
    for (const blob of m.blobs) await this.ensureBlob(blob.digest, blob.size)
    if (this.s.dryRun) return taken
    const { repo, deps } = this.s
    await this.registry.manifests.put(repo, reference, m.bytes, m.mediaType, {
      absentChildren: absent,
      origin: 'mirrored',
    })
    for (const blob of m.blobs) await deps.pin(repo, blob.digest.toString())
    await deps.pin(repo, m.digest)
    return taken
  }

  /** A child or referrer by digest: fetched and stored unless the repository holds it. */
  private async ensureManifest(digest: string): Promise<void> {
    if (this.seen.has(digest)) return
    this.seen.add(digest)
    if (await this.hasManifest(digest)) {
      if (!this.s.dryRun) await this.s.deps.pin(this.s.repo, digest)
      return
    }
    await this.store(await this.fetchManifest(digest), digest)
  }

  private async hasManifest(digest: string): Promise<boolean> {
    const { repo } = this.s
    if (!(await this.registry.blobs.stat(repo, Digest.parse(digest)))) return false
    return (await absentAsUndefined(this.registry.manifests.get(repo, digest))) !== undefined
  }

  private async fetchManifest(reference: string): Promise<PendingManifest> {
    const m =
      this.prefetched.get(reference) ??
      (await fetchUpstreamManifest(this.s.route, this.s.repo, reference, true))
    this.prefetched.delete(reference)
    await this.paced(m.bytes.length)
    return m
  }

  private async paced(n: number): Promise<void> {
    await this.s.deps.pacer.take(n, this.s.signal)
    this.fetched += n
    this.s.progress?.({ kind: 'bytes', repo: this.s.repo, n })
  }

  /**
   * The subject's referrers, byte-identical: those the referrers API lists, and the manifests
   * the referrers tag schema and cosign's tags name (with those tags; a tag whose digest the
   * upstream's HEAD gives and the store already has under it costs no GET).
   */
  async referrers(subject: string, listing?: ReferrerDescriptor[]): Promise<void> {
    const { route, repo } = this.s
    const listed =
      listing ?? (await upstreamReferrers<ReferrerDescriptor>(route, subject, undefined))
    for (const d of listed) {
      if (typeof d.digest === 'string') await this.ensureManifest(Digest.parse(d.digest).toString())
    }
    const base = referrerTag(subject)
    for (const tag of this.s.upstreamTags) {
      const suffix = tag.startsWith(base) ? tag.slice(base.length) : undefined
      if (suffix === undefined || !/^(?:|\.sig|\.att|\.sbom)$/.test(suffix)) continue
      const local = await absentAsUndefined(this.registry.manifests.get(repo, tag))
      if (local && (await upstreamTagDigest(route, tag).catch(() => undefined)) === local.digest)
        continue
      await this.store(await this.fetchManifest(tag), tag)
    }
  }

  /** A stored image's referrers, and those of its stored children (an up-to-date tag). */
  async refreshReferrers(digest: string): Promise<void> {
    const local = await this.registry.manifests.get(this.s.repo, digest)
    const children = parseManifest(local.bytes, local.mediaType).manifests.map((m) => `${m.digest}`)
    this.seen.add(digest)
    for (const subject of [digest, ...children]) {
      if (subject === digest || (await this.hasManifest(subject))) await this.referrers(subject)
    }
  }

  private async ensureBlob(digest: Digest, size: number): Promise<void> {
    const { repo } = this.s
    if (await this.registry.blobs.stat(repo, digest)) return
    if (this.s.dryRun) {
      this.missing += size
      return
    }
    await this.fetchBlob(digest, size)
  }

  /** The blob through its staging session: resumed from the staged prefix, verified, published. */
  private async fetchBlob(digest: Digest, size: number): Promise<void> {
    const { repo, route, deps, signal } = this.s
    const { uploads } = this.registry
    const id = stagingSessionId(repo, digest)
    const staged = await uploads.resume(repo, id, digest.algorithm)
    if (staged.offset > size) {
      await uploads.cancel(repo, id)
      throw new RegistryError('SIZE_INVALID', `staged ${digest} is longer than its ${size} bytes`)
    }
    if (staged.offset < size) {
      let download
      try {
        // The mirror has no client waiting: the registry's full retryDelay applies.
        download = await openResumableBlob(route, digest, {
          size,
          start: staged.offset,
          retryDelayMs: route.settings.retryDelayMs,
          log: deps.log,
        })
      } catch (err) {
        if (err instanceof UnusableBlobAnswer) await uploads.cancel(repo, id)
        throw err
      }
      const body = download.body
      const pace = (n: number) => this.paced(n)
      async function* paced(): AsyncGenerator<Buffer> {
        try {
          for await (const chunk of body as AsyncIterable<Buffer>) {
            await pace(chunk.length)
            yield chunk
          }
        } finally {
          body.destroy()
        }
      }
      try {
        await uploads.append(repo, id, Readable.from(paced(), { objectMode: false }), {
          range: { start: staged.offset, end: size - 1 },
          length: size - staged.offset,
          signal,
        })
      } catch (err) {
        // Bytes contradicting the blob are not worth continuing; a cut link's prefix is.
        if (err instanceof UnusableBlobAnswer) await uploads.cancel(repo, id).catch(() => {})
        throw err
      }
    }
    // A digest mismatch discards the session (finish): the next pass starts the blob over.
    await uploads.finish(repo, id, digest)
  }
}
