// Blobs of one repository's layout: verified before they are served (docs/architecture.md §5.1).
// A blob counts as present only when its size matches what was verified in this run; after an
// unclean shutdown (a new epoch) or for a layout written by another tool, the bytes are hashed
// once before they are first served, and bytes that do not match are moved to quarantine.
import { randomUUID } from 'node:crypto'
import type { Readable } from 'node:stream'
import { layoutKeys } from '../layout/index.js'
import type { EngineDb } from '../engine-db/index.js'
import type { ByteRange, StorageDriver } from '../storage/index.js'
import { StorageNotFoundError } from '../storage/index.js'
import { Digest, type Algorithm } from './digest.js'
import { RegistryError } from './errors.js'
import { hashStored, verifiedStream } from './hashing.js'
import { stampNow, type Clock } from '../util/clock.js'
import { forgetLost, lostIn } from './quarantine.js'
import type { SharedBlob, Sharing } from './sharing.js'

export interface BlobInfo {
  size: number
}

export interface BlobStoreOptions {
  driver: StorageDriver
  /** where upload sessions stage their bytes; the blobs' own driver when omitted */
  staging?: StorageDriver
  db: EngineDb
  /** identifies this run; verification records of other runs are not trusted */
  epoch: string
  log: (msg: string, fields?: Record<string, unknown>) => void
  /** how identical content is shared across repositories (chosen when the store opened) */
  sharing: Sharing
  clock: Clock
}

/** What verified the bytes that restore a quarantined blob (the log line says which). */
export type RestoredBy = 'upload' | 'dedupe'

const RESTORED: Record<RestoredBy, string> = {
  upload: 'quarantined blob restored by a verified upload',
  dedupe: 'quarantined blob restored from a verified copy',
}

export class BlobStore {
  private readonly verifying = new Map<string, Promise<BlobInfo | null>>()

  constructor(private readonly options: BlobStoreOptions) {}

  get sharing(): Sharing {
    return this.options.sharing
  }

  /** Whether a small blob may be stored straight from memory by `putBytes` (see Sharing). */
  get takesBytes(): boolean {
    return this.options.sharing.takesBytes
  }

  /** Whether a mount stores no new bytes (a hard link, or a reference to shared content). */
  get mountsShare(): boolean {
    return this.options.sharing.mountsShare
  }

  /** Size of a blob that is present and verified, or null. */
  async stat(repo: string, digest: Digest): Promise<BlobInfo | null> {
    const key = layoutKeys.blob(repo, digest)
    const info = await this.options.driver.stat(key)
    if (!info) return null
    const referred = this.options.sharing.referredSize(digest, info)
    if (referred) {
      const size = await referred
      return size === null ? null : { size }
    }
    const record = this.options.db.getVerified(key)
    if (record && record.size === info.size && record.epoch === this.options.epoch) {
      return { size: info.size }
    }
    // A short or missing blob (a power cut without fsync) is absent: the client pushes it again.
    let pending = this.verifying.get(key)
    if (!pending) {
      pending = this.verify(repo, digest).finally(() => this.verifying.delete(key))
      this.verifying.set(key, pending)
    }
    return pending
  }

  async require(repo: string, digest: Digest): Promise<BlobInfo> {
    const info = await this.stat(repo, digest)
    if (!info) throw new RegistryError('BLOB_UNKNOWN', `blob unknown to registry: ${digest}`)
    return info
  }

  async read(
    repo: string,
    digest: Digest,
    range?: ByteRange,
    signal?: AbortSignal,
  ): Promise<Readable> {
    try {
      return await this.options.driver.read(layoutKeys.blob(repo, digest), { range, signal })
    } catch (err) {
      if (err instanceof StorageNotFoundError) {
        throw new RegistryError('BLOB_UNKNOWN', `blob unknown to registry: ${digest}`)
      }
      throw err
    }
  }

  /** Small blobs (manifests) read whole and checked against their digest on every load. */
  async readVerifiedBytes(repo: string, digest: Digest): Promise<Buffer | null> {
    let bytes: Buffer
    try {
      bytes = await this.options.driver.get(layoutKeys.blob(repo, digest))
    } catch (err) {
      if (err instanceof StorageNotFoundError) return null
      throw err
    }
    if (!Digest.of(digest.algorithm, bytes).equals(digest)) {
      await this.quarantine(repo, digest)
      return null
    }
    return bytes
  }

  /**
   * First half of publishing, outside the repository's lock: bytes staged on another backend
   * (local staging, blobs on S3) go up now, a transfer that may take minutes and must not hold
   * the lock meanwhile (parallel layer pushes to one repository, tag updates). Where they land
   * is the sharing strategy's to say (a shared copy, or the blob's own key). The staged bytes
   * stay until `publish`.
   */
  async carryStaged(repo: string, digest: Digest, stagedKey: string): Promise<void> {
    const staging = this.options.staging ?? this.options.driver
    if (staging === this.options.driver) return // a rename under the lock is instant
    await this.options.sharing.carry(this.blob(repo, digest), (key) =>
      this.carry(staging, stagedKey, key, digest),
    )
  }

  /**
   * Make staged bytes, already hashed to `digest`, visible as the repository's blob (under its
   * lock), shared as the store's strategy shares. After `carryStaged`, what was carried is only
   * checked, and carried again if it went.
   */
  async publish(repo: string, digest: Digest, stagedKey: string, size: number): Promise<void> {
    const key = layoutKeys.blob(repo, digest)
    const staging = this.options.staging ?? this.options.driver
    const { driver } = this.options
    await this.options.sharing.publish(this.blob(repo, digest), {
      size,
      storeAt: (target) => this.place(staging, stagedKey, target, digest),
      settle: async () => {
        if (staging === driver) await driver.move(stagedKey, key)
        else if ((await driver.stat(key))?.size !== size)
          await this.carry(staging, stagedKey, key, digest)
      },
    })
    await staging.delete(stagedKey)
    await this.recordHeld(repo, digest, size)
  }

  /** Staged bytes become the object at `key`: renamed on the same driver, carried otherwise. */
  private async place(staging: StorageDriver, stagedKey: string, key: string, digest: Digest) {
    if (staging === this.options.driver) await this.options.driver.move(stagedKey, key)
    else await this.carry(staging, stagedKey, key, digest)
  }

  /**
   * Staged bytes go up to another backend (local staging, remote blobs): streamed, and hashed
   * again on the way so what becomes visible is what was verified.
   */
  private async carry(
    staging: StorageDriver,
    stagedKey: string,
    key: string,
    digest: Digest,
  ): Promise<void> {
    const source = await staging.read(stagedKey)
    await this.options.driver.write(
      key,
      verifiedStream(source, digest.algorithm, digest.toString()),
    )
  }

  /** Store small bytes (a manifest) whose digest the caller computed. */
  async putBytes(repo: string, digest: Digest, bytes: Uint8Array): Promise<void> {
    await this.options.sharing.putBytes(this.blob(repo, digest), bytes)
    await this.recordHeld(repo, digest, bytes.length)
  }

  /**
   * Cross-repository mount (distribution-spec "Mounting a blob from another repository"): the
   * bytes are shared, or copied, as the store's strategy does. False when `from` lacks the blob.
   */
  async mount(repo: string, digest: Digest, from: string, stagedKey: string): Promise<boolean> {
    const info = await this.stat(from, digest)
    if (!info) return false
    const source = layoutKeys.blob(from, digest)
    if (!(await this.options.sharing.mount(this.blob(repo, digest), source, stagedKey)))
      return false
    await this.recordHeld(repo, digest, info.size)
    return true
  }

  /**
   * Startup dedupe of a blob already stored, where the strategy shares stored blobs one by one
   * (by reference). Returns the bytes saved (0 when kept). On a store with hard links the pass
   * links copies itself (see dedupe-existing.ts).
   */
  async shareExisting(
    repo: string,
    digest: Digest,
    /** asked before bytes may be hashed (a blob not yet verified in this run) */
    pace: (bytes: number) => Promise<void>,
  ): Promise<number> {
    return this.options.sharing.shareExisting(this.blob(repo, digest), pace)
  }

  /** `repo`'s blob `digest` as the sharing strategy sees it. */
  private blob(repo: string, digest: Digest): SharedBlob {
    return {
      repo,
      digest,
      key: layoutKeys.blob(repo, digest),
      findHolder: (size) => this.findHolder(repo, digest, size),
      isVerified: async () => (await this.stat(repo, digest)) !== null,
    }
  }

  /** Another repository's verified copy of this content (its key); stale holders are dropped. */
  private async findHolder(
    repo: string,
    digest: Digest,
    size: number,
  ): Promise<string | undefined> {
    for (const [holder] of this.options.db.holders(digest.toString())) {
      if (holder === repo) continue
      const info = await this.stat(holder, digest)
      if (info?.size === size) return layoutKeys.blob(holder, digest)
      if (!info) await this.options.db.deleteHolder(digest.toString(), holder)
    }
    return undefined
  }

  /** `repo`'s copy of `digest` was just hashed and matched: served without hashing it again. */
  noteVerified(repo: string, digest: Digest, size: number): void {
    const { db, epoch } = this.options
    db.background(db.setVerified(layoutKeys.blob(repo, digest), { size, epoch }))
  }

  /**
   * Note that `repo` holds verified bytes of `digest` from now on (dedupe source, GC age), and
   * give them back to repositories that lost them to quarantine (see quarantine.ts).
   */
  async recordHeld(repo: string, digest: Digest, size: number): Promise<void> {
    const { db, clock } = this.options
    // Under the repository's lock: not waited for (EngineDb.background).
    this.noteVerified(repo, digest, size)
    db.background(db.putHolder(digest.toString(), repo, { size, entered: stampNow(clock) }))
    await this.restoreLost(repo, digest, size, 'upload')
  }

  /**
   * Give the verified bytes `repo` holds back to every repository that lost `digest` to
   * quarantine; `by` says what verified them (an upload, or the dedupe pass's hash).
   */
  async restoreLost(repo: string, digest: Digest, size: number, by: RestoredBy): Promise<void> {
    const { db, epoch, clock } = this.options
    const waiting = lostIn(db, digest, repo)
    if (waiting.length === 0) return
    for (const other of waiting) {
      if (!(await this.options.driver.stat(layoutKeys.index(other)))) continue // repository gone
      const lost = this.blob(other, digest)
      await this.options.sharing.give(layoutKeys.blob(repo, digest), lost)
      await db.setVerified(lost.key, { size, epoch })
      await db.putHolder(digest.toString(), other, { size, entered: stampNow(clock) })
    }
    await forgetLost(db, digest)
    this.options.log(RESTORED[by], { digest: digest.toString(), repositories: waiting, from: repo })
  }

  /** Remove this repository's copy; other repositories sharing the bytes keep theirs. */
  async delete(repo: string, digest: Digest): Promise<void> {
    const key = layoutKeys.blob(repo, digest)
    await this.options.driver.delete(key)
    await this.options.db.deleteVerified(key)
    await this.options.db.deleteHolder(digest.toString(), repo)
  }

  /** Hash a stored object with the given algorithm, streaming. */
  async hashObject(key: string, algorithm: Algorithm): Promise<{ digest: Digest; size: number }> {
    const { hash, size } = await hashStored(this.options.driver, key, algorithm)
    return { digest: Digest.fromHash(algorithm, hash), size }
  }

  private async verify(repo: string, digest: Digest): Promise<BlobInfo | null> {
    const key = layoutKeys.blob(repo, digest)
    let result
    try {
      result = await this.hashObject(key, digest.algorithm)
    } catch (err) {
      if (err instanceof StorageNotFoundError) return null
      throw err
    }
    if (!result.digest.equals(digest)) {
      await this.quarantine(repo, digest)
      return null
    }
    this.noteVerified(repo, digest, result.size)
    return { size: result.size }
  }

  /**
   * Bytes that do not match their digest are kept as evidence and served to no one. Where they
   * cannot be moved (a read-only hosted directory) they stay in place, still served to no one,
   * and the log says so rather than calling them quarantined.
   */
  private async quarantine(repo: string, digest: Digest): Promise<void> {
    const key = layoutKeys.blob(repo, digest)
    const aside = layoutKeys.quarantined(digest, randomUUID())
    try {
      await this.options.driver.move(key, aside)
      this.options.log('blob does not match its digest; quarantined', { key, aside })
    } catch (err) {
      this.options.log('blob does not match its digest; left in place, served to no one', {
        key,
        reason: err instanceof Error ? err.message : String(err),
      })
    }
    await this.options.db.deleteVerified(key)
    await this.options.db.deleteHolder(digest.toString(), repo)
  }
}
