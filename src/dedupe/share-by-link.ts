// Sharing by hard link (registry/sharing.ts), on a filesystem: a repository's blob becomes a
// second name of another repository's verified file, so identical content is stored once and the
// filesystem frees it with its last name (zot storage guide, "Deduplication"). Nothing to sweep.
import { StorageNotFoundError, type StorageDriver } from '../storage/index.js'
import type { SharedBlob, Sharing, StagedBytes, SweepResult } from '../registry/sharing.js'

export type LinkingDriver = StorageDriver & Required<Pick<StorageDriver, 'link'>>

/** Whether a driver declares the link capability (whether links work is probed apart). */
export function hasLink(driver: StorageDriver): driver is LinkingDriver {
  return driver.link !== undefined
}

export class ShareByLink implements Sharing {
  readonly kind = 'link'
  readonly mountsShare = true
  readonly takesBytes = true
  readonly startupPass = 'share'

  constructor(private readonly driver: LinkingDriver) {}

  referredSize(): undefined {
    return undefined
  }

  async carry(blob: SharedBlob, store: (key: string) => Promise<void>): Promise<void> {
    // Landed at the blob's own key: GC, finding no holder record yet, counts it as new.
    await store(blob.key)
  }

  async publish(blob: SharedBlob, staged: StagedBytes): Promise<void> {
    // Linked to another repository's copy, the staged bytes are surplus.
    if (!(await this.linkFromHolder(blob, staged.size))) await staged.settle()
  }

  async putBytes(blob: SharedBlob, bytes: Uint8Array): Promise<void> {
    if (!(await this.linkFromHolder(blob, bytes.length))) await this.driver.put(blob.key, bytes)
  }

  async mount(blob: SharedBlob, sourceKey: string): Promise<boolean> {
    try {
      await this.driver.link(sourceKey, blob.key)
      return true
    } catch (err) {
      if (err instanceof StorageNotFoundError) return false // collected meanwhile: no mount
      throw err
    }
  }

  /** The startup pass links stored copies itself, hashing both first (dedupe-existing.ts). */
  async shareExisting(): Promise<number> {
    return 0
  }

  async give(sourceKey: string, blob: SharedBlob): Promise<void> {
    await this.driver.link(sourceKey, blob.key)
  }

  async restore(): Promise<number> {
    return 0
  }

  async sweep(): Promise<SweepResult> {
    return { removed: 0, bytes: 0 }
  }

  /**
   * Link the blob to another repository's verified copy. False when there is none, or when it
   * vanished before the link (its repository was just collected): the caller stores its own.
   */
  private async linkFromHolder(blob: SharedBlob, size: number): Promise<boolean> {
    const source = await blob.findHolder(size)
    if (!source) return false
    try {
      await this.driver.link(source, blob.key)
      return true
    } catch (err) {
      if (err instanceof StorageNotFoundError) return false
      throw err
    }
  }
}
