// Sharing by copy (registry/sharing.ts): every repository holds bytes of its own, with dedupe off
// or on a store that cannot share. A mount copies inside the store where the driver can (S3's
// CopyObject), else streams the bytes through a hash. On a store that shared by reference in an
// earlier run, the leftover references get full bytes again and their shared copies are swept.
import type { StorageDriver } from '../storage/index.js'
import { StorageNotFoundError } from '../storage/index.js'
import { Digest, newHash } from '../registry/digest.js'
import { hashStream } from '../registry/hashing.js'
import type {
  SharedBlob,
  Sharing,
  StagedBytes,
  SweepOptions,
  SweepResult,
} from '../registry/sharing.js'
import type { SharedContent } from './shared-content.js'

export class ShareByCopy implements Sharing {
  readonly kind = 'copy'
  readonly mountsShare = false
  readonly takesBytes = true
  readonly startupPass: 'restore' | 'none'

  /** `leftovers`: content an earlier run kept once by reference on this store, if it can. */
  constructor(
    private readonly driver: StorageDriver,
    private readonly leftovers?: SharedContent,
  ) {
    this.startupPass = leftovers ? 'restore' : 'none'
  }

  /** A leftover reference is hashed through like any object (the store resolves it). */
  referredSize(): undefined {
    return undefined
  }

  async carry(blob: SharedBlob, store: (key: string) => Promise<void>): Promise<void> {
    await store(blob.key)
  }

  async publish(_blob: SharedBlob, staged: StagedBytes): Promise<void> {
    await staged.settle()
  }

  async putBytes(blob: SharedBlob, bytes: Uint8Array): Promise<void> {
    await this.driver.put(blob.key, bytes)
  }

  async mount(blob: SharedBlob, sourceKey: string, stagedKey: string): Promise<boolean> {
    const { driver } = this
    if (driver.copy) {
      // Verified bytes copied inside the store: nothing passes through here.
      try {
        await driver.copy(sourceKey, blob.key)
        return true
      } catch (err) {
        if (err instanceof StorageNotFoundError) return false // collected meanwhile: no mount
        throw err
      }
    }
    const { algorithm } = blob.digest
    const hash = newHash(algorithm)
    await driver.write(stagedKey, hashStream(await driver.read(sourceKey), [hash]))
    if (!Digest.fromHash(algorithm, hash).equals(blob.digest)) {
      await driver.delete(stagedKey)
      return false
    }
    await driver.move(stagedKey, blob.key)
    return true
  }

  async shareExisting(): Promise<number> {
    return 0
  }

  async give(sourceKey: string, blob: SharedBlob): Promise<void> {
    await this.driver.write(blob.key, await this.driver.read(sourceKey))
  }

  async restore(blobs: AsyncIterable<{ key: string; digest: Digest }>): Promise<number> {
    if (!this.leftovers) return 0
    let restored = 0
    for await (const { key, digest } of blobs) {
      if (await this.leftovers.restore(key, digest)) restored++
    }
    return restored
  }

  async sweep(
    repositories: () => Promise<string[]>,
    listedBy: () => Promise<ReadonlyMap<string, readonly string[]>>,
    options: SweepOptions,
  ): Promise<SweepResult> {
    if (!this.leftovers) return { removed: 0, bytes: 0 }
    // A listed digest may be a full copy again: each listing repository is asked.
    return this.leftovers.sweep(repositories, await listedBy(), { ...options, listedIsLive: false })
  }
}
