// Sharing by reference (registry/sharing.ts), on a store without hard links (S3): content is kept
// once as a shared copy and each repository's blob refers to it; shared-content.ts holds the
// rules that keep every reference resolvable. GC's sweep removes copies no one refers to.
import type { ObjectInfo } from '../storage/index.js'
import type { Digest } from '../registry/digest.js'
import type {
  SharedBlob,
  Sharing,
  StagedBytes,
  SweepOptions,
  SweepResult,
} from '../registry/sharing.js'
import type { SharedContent } from './shared-content.js'

export class ShareByReference implements Sharing {
  readonly kind = 'reference'
  readonly mountsShare = true
  /** A repository's layer must be a reference to the shared copy, not bytes of its own. */
  readonly takesBytes = false
  readonly startupPass = 'share'

  constructor(private readonly shared: SharedContent) {}

  referredSize(digest: Digest, info: ObjectInfo): Promise<number | null> | undefined {
    // Verified once for every repository referring to it.
    return info.target === this.shared.key(digest) ? this.shared.present(digest) : undefined
  }

  async carry(blob: SharedBlob, store: (key: string) => Promise<void>): Promise<void> {
    await this.shared.ensure(blob.digest, store)
  }

  async publish(blob: SharedBlob, staged: StagedBytes): Promise<void> {
    await this.shared.publish(blob.key, blob.digest, (key) => staged.storeAt(key))
  }

  /** Small blobs (manifests) stay objects of their own: read whole on every load. */
  async putBytes(blob: SharedBlob, bytes: Uint8Array): Promise<void> {
    await this.shared.driver.put(blob.key, bytes)
  }

  async mount(blob: SharedBlob, sourceKey: string): Promise<boolean> {
    await this.shared.adopt(sourceKey, blob.key, blob.digest)
    return true
  }

  /** A blob stored before dedupe becomes (or refers to) the shared copy, once it verifies. */
  async shareExisting(blob: SharedBlob, pace: (bytes: number) => Promise<void>): Promise<number> {
    const own = await this.shared.driver.stat(blob.key)
    if (!own || own.target !== undefined) return 0 // gone, or already a reference
    await pace(own.size)
    if (!(await blob.isVerified())) return 0 // its own bytes must match before sharing
    return (await this.shared.adopt(blob.key, blob.key, blob.digest)) ? own.size : 0
  }

  async give(_sourceKey: string, blob: SharedBlob): Promise<void> {
    await this.shared.driver.refer(this.shared.key(blob.digest), blob.key)
  }

  /** With dedupe on, references stay references. */
  async restore(): Promise<number> {
    return 0
  }

  async sweep(
    repositories: () => Promise<string[]>,
    listedBy: () => Promise<ReadonlyMap<string, readonly string[]>>,
    options: SweepOptions,
  ): Promise<SweepResult> {
    // A listed digest is live: a plain copy the pass has not shared yet costs space until it does.
    return this.shared.sweep(repositories, await listedBy(), { ...options, listedIsLive: true })
  }
}
