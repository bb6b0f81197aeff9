// Dedupe on a store without hard links (S3, zot storage guide "Deduplication"): content is kept
// once, at _outpost/blobs/<alg>/<hex>, and each repository's blobs/<alg>/<hex> is a reference that
// names that key in its own metadata (the driver's `refer` capability). The store alone resolves
// every reference (docs/architecture.md §5.7); the content index only remembers which shared copies
// were verified, so a reference costs no re-hash after a restart or on another instance.
//
// What keeps every reference resolvable (zot shipped both failures: placeholders served to
// readers, its issue #2625; content lost with the repository that held the original, #4427):
// - a reference reads as its target or is absent, never as an empty placeholder;
// - the shared copy is written (or found verified) before a reference to it is;
// - removing a repository's blob removes its reference only; a shared copy goes in GC's sweep,
//   once no repository lists that digest;
// - writing a reference and sweeping the copy it names hold the content's lock (a DynamoDB lease
//   when several instances share the store), and the sweep re-checks every repository under it.
import { randomUUID } from 'node:crypto'
import { layoutKeys } from '../layout/index.js'
import type { StorageDriver } from '../storage/index.js'
import type { ContentIndex } from '../engine-db/content-index.js'
import { Digest } from '../registry/digest.js'
import { hashStored } from '../registry/hashing.js'
import type { SweepResult } from '../registry/sharing.js'
import { contentLockName, type Locks } from '../util/locks.js'

export interface SharedContentOptions {
  driver: StorageDriver & Required<Pick<StorageDriver, 'refer' | 'copy'>>
  contents: ContentIndex
  locks: Locks
  log: (msg: string, fields?: Record<string, unknown>) => void
}

export class SharedContent {
  private readonly verifying = new Map<string, Promise<number | null>>()

  constructor(private readonly options: SharedContentOptions) {}

  /** The store that holds the shared copies and the references to them. */
  get driver(): SharedContentOptions['driver'] {
    return this.options.driver
  }

  /** Whether a driver can keep content once by reference. */
  static supported(driver: StorageDriver): driver is SharedContentOptions['driver'] {
    return driver.refer !== undefined && driver.copy !== undefined
  }

  key(digest: Digest): string {
    return layoutKeys.sharedBlob(digest)
  }

  /** Size of the verified shared copy of `digest`, or null when there is none (or it is bad). */
  present(digest: Digest): Promise<number | null> {
    const name = digest.toString()
    let pending = this.verifying.get(name)
    if (!pending) {
      pending = this.check(digest).finally(() => this.verifying.delete(name))
      this.verifying.set(name, pending)
    }
    return pending
  }

  private async check(digest: Digest): Promise<number | null> {
    const { driver, contents } = this.options
    const key = this.key(digest)
    const info = await driver.stat(key)
    if (!info) return null
    const record = await contents.get(digest.toString())
    if (record && record.size === info.size && record.identity === (info.identity ?? '')) {
      return info.size
    }
    const { hash, size } = await hashStored(driver, key, digest.algorithm)
    if (Digest.fromHash(digest.algorithm, hash).equals(digest)) {
      await contents.put(digest.toString(), { size, identity: info.identity ?? '' })
      return size
    }
    // Bit rot in the store: kept as evidence, served to no one; a new push brings it back.
    const aside = layoutKeys.quarantined(digest, randomUUID())
    try {
      await driver.move(key, aside)
      this.options.log('shared blob does not match its digest; quarantined', { key, aside })
    } catch (err) {
      this.options.log('shared blob does not match its digest; left in place, served to no one', {
        key,
        reason: err instanceof Error ? err.message : String(err),
      })
    }
    await contents.delete(digest.toString())
    return null
  }

  /** The shared copy of `digest`, written by `store(key)` when there is none (no reference yet). */
  async ensure(digest: Digest, store: (sharedKey: string) => Promise<void>): Promise<void> {
    await this.locked(digest, async () => {
      if ((await this.present(digest)) !== null) return
      await store(this.key(digest))
      await this.remember(digest)
    })
  }

  /**
   * Make `repoKey` a reference to the shared copy of `digest`, which `store(key)` writes first
   * when there is none. Under the content's lock, so no sweep removes the copy in between.
   */
  async publish(
    repoKey: string,
    digest: Digest,
    store: (sharedKey: string) => Promise<void>,
  ): Promise<void> {
    const key = this.key(digest)
    await this.locked(digest, async () => {
      if ((await this.present(digest)) === null) {
        await store(key)
        await this.remember(digest)
      }
      await this.options.driver.refer(key, repoKey)
    })
  }

  /**
   * Share the verified bytes at `sourceKey` as `repoKey` (a mount, or a blob stored before
   * dedupe): they become the shared copy by a server-side copy when there is none. Returns
   * whether a shared copy already existed (bytes were saved).
   */
  async adopt(sourceKey: string, repoKey: string, digest: Digest): Promise<boolean> {
    const key = this.key(digest)
    return this.locked(digest, async () => {
      const existed = (await this.present(digest)) !== null
      if (!existed) {
        await this.options.driver.copy(sourceKey, key)
        await this.remember(digest)
      }
      await this.options.driver.refer(key, repoKey)
      return existed
    })
  }

  /** Replace a reference with full bytes of its own (a start with dedupe off). */
  async restore(repoKey: string, digest: Digest): Promise<boolean> {
    return this.locked(digest, async () => {
      const info = await this.options.driver.stat(repoKey)
      if (info?.target === undefined) return false
      await this.options.driver.copy(repoKey, repoKey)
      return true
    })
  }

  /**
   * Remove shared copies no repository refers to any more. `listedBy` maps each digest to the
   * repositories whose blobs/ listed it when the sweep began. While dedupe is on, a listed digest
   * is live (a plain copy the dedupe pass has not shared yet costs a little space until it does);
   * otherwise (a store being restored to full copies) the repositories listing it are asked
   * whether their object still refers to the shared copy. An unlisted copy is checked against
   * every repository under its lock, since a reference may have been written since the listing.
   */
  async sweep(
    repositories: () => Promise<string[]>,
    listedBy: ReadonlyMap<string, readonly string[]>,
    options: { minAgeMs: number; listedIsLive: boolean; shouldStop?: () => boolean },
  ): Promise<SweepResult> {
    const result: SweepResult = { removed: 0, bytes: 0 }
    const { driver, contents } = this.options
    for (const algorithm of ['sha256', 'sha512'] as const) {
      for await (const entry of driver.list(layoutKeys.sharedBlobAlgorithmDir(algorithm))) {
        if (options.shouldStop?.()) return result
        let digest: Digest
        try {
          digest = Digest.parse(`${algorithm}:${entry.name}`)
        } catch {
          continue // not ours
        }
        const listers = listedBy.get(digest.toString())
        if (entry.isPrefix || (listers && options.listedIsLive)) continue
        await this.locked(digest, async () => {
          const key = this.key(digest)
          const info = await driver.stat(key)
          if (!info || Date.now() - info.mtimeMs < options.minAgeMs) return
          for (const repo of listers ?? (await repositories())) {
            if ((await driver.stat(layoutKeys.blob(repo, digest)))?.target === key) return
          }
          await driver.delete(key)
          await contents.delete(digest.toString())
          result.removed++
          result.bytes += info.size
        })
      }
    }
    return result
  }

  private locked<T>(digest: Digest, task: () => Promise<T>): Promise<T> {
    return this.options.locks.run(contentLockName(digest.toString()), task)
  }

  /** The shared copy was just written from verified bytes: no need to hash it again. */
  private async remember(digest: Digest): Promise<void> {
    const info = await this.options.driver.stat(this.key(digest))
    if (!info) throw new Error(`shared blob ${digest} vanished right after it was written`)
    await this.options.contents.put(digest.toString(), {
      size: info.size,
      identity: info.identity ?? '',
    })
  }
}
