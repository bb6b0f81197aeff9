// Manifests of one repository (distribution-spec "Pushing manifests", "Pulling manifests",
// "Deleting manifests"). A manifest is a blob of its repository plus an entry in index.json;
// it becomes visible only after it parsed, matched its digest and its references exist.
import {
  absentChildren,
  addUntagged,
  findManifest,
  removeManifest,
  removeTag,
  resolveTag,
  setAbsentChildren,
  setTag,
  type Descriptor,
  type IndexDocument,
} from '../layout/index.js'
import type { BlobStore } from './blob-store.js'
import { ByteLru } from '../util/byte-lru.js'
import { Digest } from './digest.js'
import { RegistryError } from './errors.js'
import { MEDIA_TYPES, parseManifest, type ParsedManifest } from './manifest-rules.js'
import { lookupReference, parseReference } from './names.js'
import { referrerOf, type Referrers } from './referrers.js'
import type { RepoIndexes } from './repo-index.js'
import type { Origin } from '../engine-db/index.js'
import type { RepoSummaries } from './repo-summary.js'
import { TagGroups } from './tag-group.js'

export interface StoredManifest {
  bytes: Buffer
  mediaType: string
  digest: string
}

export interface PutManifestOptions {
  /**
   * Children of an index the caller vouches for although the repository does not hold them
   * (a mirror that took only some platforms): the index is stored with them absent, recorded
   * in index.json (ABSENT_CHILDREN) so GC and scrub accept it; a GET of one answers 404
   * MANIFEST_UNKNOWN. Any other child must be stored, as always.
   */
  absentChildren?: ReadonlySet<string>
  /** where the manifest came from, for the operator page (default: pushed) */
  origin?: Origin
}

export interface PutManifestResult {
  digest: Digest
  subject?: string
}

const INDEX_TYPES: ReadonlySet<string> = new Set([MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerList])

export class ManifestStore {
  private readonly cache = new ByteLru<{ bytes: Buffer }>(8 * 1024 * 1024)
  private readonly tags: TagGroups

  constructor(
    private readonly blobs: BlobStore,
    private readonly indexes: RepoIndexes,
    private readonly referrers: Referrers,
    private readonly summaries?: RepoSummaries,
  ) {
    this.tags = new TagGroups(indexes, (repo) => referrers.markCurrent(repo))
  }

  async put(
    repo: string,
    reference: string,
    bytes: Buffer,
    contentType: string | undefined,
    options: PutManifestOptions = {},
  ): Promise<PutManifestResult> {
    const ref = parseReference(reference)
    const parsed = parseManifest(bytes, contentType)
    const absent = parsed.manifests
      .map((m) => m.digest.toString())
      .filter((d) => options.absentChildren?.has(d))
    const digest = Digest.of('digest' in ref ? ref.digest.algorithm : 'sha256', bytes)
    if ('digest' in ref && !ref.digest.equals(digest)) {
      throw new RegistryError('DIGEST_INVALID', `manifest has digest ${digest}, not ${ref.digest}`)
    }
    // Verify outside the lock (hashing a blob not yet verified in this run may take a while),
    // then confirm under it: a blob DELETE or a GC pass holds the same lock, so no manifest is
    // ever stored pointing at a blob that was just removed. The confirmation is skipped when
    // no such section ended since these checks began (RepoIndexes.keptSince).
    const mark = this.indexes.removalMark(repo)
    if (options.origin) this.summaries?.noteOrigin(repo, digest.toString(), options.origin)
    await this.requireBlobs(repo, parsed)
    await this.requireChildren(repo, parsed, absent)
    // The manifest's own bytes are a blob like any other: written under the shared lock, beside
    // other pushes to the repository, so the exclusive section below is only the index update.
    // Only now, so a refused manifest leaves no new repository behind (docs/architecture.md §5.8).
    await this.indexes.lockedShared(repo, async () => {
      await this.indexes.ensureLocked(repo)
      await this.blobs.putBytes(repo, digest, bytes)
    })
    const desc: Descriptor = {
      mediaType: parsed.mediaType,
      digest: digest.toString(),
      size: bytes.length,
    }
    await this.tags.apply(repo, {
      prepare: async () => {
        if (this.indexes.keptSince(repo, mark)) return
        await this.requireBlobs(repo, parsed)
        await this.requireChildren(repo, parsed, absent)
        // A GC pass with gcDelay 0 may have taken the bytes in between: store them again.
        if (!(await this.blobs.stat(repo, digest))) {
          await this.indexes.ensureLocked(repo)
          await this.blobs.putBytes(repo, digest, bytes)
        }
      },
      change: (d) => {
        const changed = 'tag' in ref ? setTag(d, ref.tag, desc) : addUntagged(d, desc)
        // A push of the same index with every child present clears the record.
        return setAbsentChildren(d, desc.digest, absent) || changed
      },
      written: async () => {
        if (parsed.subject)
          await this.referrers.record(
            repo,
            parsed.subject.digest.toString(),
            referrerOf(desc, parsed),
          )
        // The subject's summary lists its referrers: refresh it now that the record is written.
        if (parsed.subject) this.summaries?.touch(repo)
      },
    })
    return { digest, subject: parsed.subject?.digest.toString() }
  }

  /**
   * An index's children must be manifests the repository already holds (their bytes, not only
   * a mention in another index), but for those the caller vouches absent.
   */
  private async requireChildren(
    repo: string,
    parsed: ParsedManifest,
    absent: readonly string[],
  ): Promise<void> {
    if (parsed.manifests.length === 0) return
    const doc = await this.indexes.read(repo)
    for (const child of parsed.manifests) {
      const digest = child.digest.toString()
      if (absent.includes(digest)) continue
      const desc = doc && (await this.locate(repo, doc, digest))
      if (!desc || !(await this.blobs.stat(repo, child.digest))) {
        throw new RegistryError(
          'MANIFEST_BLOB_UNKNOWN',
          `index references unknown manifest ${child.digest}`,
          { digest: child.digest.toString() },
        )
      }
    }
  }

  private async requireBlobs(repo: string, parsed: ParsedManifest): Promise<void> {
    for (const blob of parsed.blobs) {
      const info = await this.blobs.stat(repo, blob.digest)
      const digest = blob.digest.toString()
      if (!info) {
        throw new RegistryError(
          'MANIFEST_BLOB_UNKNOWN',
          `manifest references unknown blob ${digest}`,
          {
            digest,
          },
        )
      }
      // image-spec descriptor.md: size "MUST" be the size of the referenced content.
      if (info.size !== blob.size) {
        throw new RegistryError(
          'MANIFEST_INVALID',
          `descriptor of ${digest} gives size ${blob.size}, but the blob has ${info.size} bytes`,
          { digest, size: info.size },
        )
      }
    }
  }

  async get(repo: string, reference: string): Promise<StoredManifest> {
    const ref = lookupReference(reference)
    const doc = await this.indexes.read(repo)
    if (!doc) throw new RegistryError('NAME_UNKNOWN', `repository ${repo} not known to registry`)
    const desc =
      'tag' in ref ? resolveTag(doc, ref.tag) : await this.locate(repo, doc, ref.digest.toString())
    if (!desc) throw new RegistryError('MANIFEST_UNKNOWN', `manifest unknown: ${reference}`)
    const bytes = await this.load(repo, desc.digest)
    if (!bytes)
      throw new RegistryError('MANIFEST_UNKNOWN', `manifest content missing: ${desc.digest}`)
    return { bytes, mediaType: desc.mediaType, digest: desc.digest }
  }

  /**
   * The indexes of `repo` whose entries record `digest` as a child absent on purpose
   * (ABSENT_CHILDREN): a child a mirror or pull-through left out by platform.
   */
  async absentFrom(repo: string, digest: string): Promise<string[]> {
    const doc = await this.indexes.read(repo)
    const found = new Set<string>()
    for (const desc of doc?.manifests ?? []) {
      if (absentChildren(desc).has(digest)) found.add(desc.digest)
    }
    return [...found]
  }

  async delete(repo: string, reference: string): Promise<void> {
    const ref = lookupReference(reference)
    await this.indexes.locked(repo, async () => {
      if (!(await this.indexes.read(repo))) {
        throw new RegistryError('NAME_UNKNOWN', `repository ${repo} not known to registry`)
      }
      const removed = await this.indexes.updateLocked(repo, (d) => {
        // Nothing removed, nothing written: an unknown reference leaves index.json untouched.
        const found =
          'tag' in ref
            ? removeTag(d, ref.tag) !== undefined
            : removeManifest(d, ref.digest.toString())
        return { changed: found, result: found }
      })
      if (!removed) throw new RegistryError('MANIFEST_UNKNOWN', `manifest unknown: ${reference}`)
      if ('digest' in ref) {
        const subject = await this.subjectOf(repo, ref.digest.toString())
        if (subject) {
          await this.referrers.forget(repo, subject, ref.digest.toString())
          this.summaries?.touch(repo)
        }
      }
      await this.referrers.markCurrent(repo)
    })
  }

  /** Drop cached bytes of a manifest found corrupt or removed. */
  forget(repo: string, digest: string): void {
    this.cache.delete(`${repo}@${digest}`)
  }

  /** Manifest bytes, checked against their digest; null when absent or corrupt. */
  async load(repo: string, digest: string): Promise<Buffer | null> {
    const key = `${repo}@${digest}`
    const cached = this.cache.get(key)
    if (cached) return cached.bytes
    const bytes = await this.blobs.readVerifiedBytes(repo, Digest.parse(digest))
    if (bytes) this.cache.set(key, { bytes })
    return bytes
  }

  /** The parsed manifest of a stored digest, or undefined when it is not a valid manifest. */
  async parsed(repo: string, desc: Descriptor): Promise<ParsedManifest | undefined> {
    const bytes = await this.load(repo, desc.digest)
    if (!bytes) return undefined
    try {
      return parseManifest(bytes, desc.mediaType)
    } catch {
      return undefined
    }
  }

  /**
   * A manifest's descriptor when the repository holds it: listed in index.json, or a child of
   * an index listed there (layouts written by skopeo list only the top-level index).
   */
  private async locate(
    repo: string,
    doc: IndexDocument,
    digest: string,
  ): Promise<Descriptor | undefined> {
    const listed = findManifest(doc, digest)
    if (listed) return listed
    for (const desc of doc.manifests) {
      if (!INDEX_TYPES.has(desc.mediaType)) continue
      const child = (await this.parsed(repo, desc))?.manifests.find(
        (m) => m.digest.toString() === digest,
      )
      if (child) return { mediaType: child.mediaType, digest, size: child.size }
    }
    return undefined
  }

  private async subjectOf(repo: string, digest: string): Promise<string | undefined> {
    const bytes = await this.load(repo, digest)
    if (!bytes) return undefined
    try {
      const subject = (JSON.parse(bytes.toString('utf8')) as { subject?: { digest?: unknown } })
        .subject
      return typeof subject?.digest === 'string' ? subject.digest : undefined
    } catch {
      return undefined
    }
  }
}
