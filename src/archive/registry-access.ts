// What import and export need of a registry, and its offline implementation over the registry
// API of the stores this process owns (src/cli/offline.ts). The online one speaks HTTP to the
// running server (http-access.ts); both verify digests the same way, in the registry.
import { once } from 'node:events'
import { PassThrough, Readable } from 'node:stream'
import { checkRepoName, Digest, RegistryError, type RegistryRouter } from '../registry/index.js'

export interface StoredManifest {
  bytes: Buffer
  mediaType: string
  digest: string
}

/**
 * A blob being staged: bytes go in as they stream, nothing is visible until `commit`, and
 * `abort` leaves nothing behind.
 */
export interface StagedBlob {
  write(chunk: Buffer): Promise<void>
  /** all bytes are in */
  seal(): Promise<void>
  /** publish the sealed bytes as `digest` (the registry checks it again) */
  commit(digest: string): Promise<void>
  abort(): Promise<void>
}

export interface RegistryAccess {
  /** where it goes, for messages: "storage" or the server's URL */
  readonly where: string
  getManifest(repo: string, reference: string): Promise<StoredManifest>
  hasManifest(repo: string, digest: string): Promise<boolean>
  readBlob(repo: string, digest: string): Promise<Readable>
  hasBlob(repo: string, digest: string): Promise<boolean>
  /** a small blob in one go (distribution-spec monolithic POST ?digest=) */
  putBlob(repo: string, digest: string, bytes: Buffer): Promise<void>
  stageBlob(repo: string): Promise<StagedBlob>
  /** false when the blob could not be mounted (the caller then needs the bytes) */
  mountBlob(repo: string, digest: string, from: string): Promise<boolean>
  putManifest(repo: string, reference: string, bytes: Buffer, mediaType: string): Promise<void>
  deleteManifest(repo: string, digest: string): Promise<void>
  deleteBlob(repo: string, digest: string): Promise<void>
}

/** Whether an error means "not there" (absence is normal when probing). */
function isAbsent(err: unknown): boolean {
  return (
    err instanceof RegistryError &&
    ['NAME_UNKNOWN', 'MANIFEST_UNKNOWN', 'BLOB_UNKNOWN'].includes(err.code)
  )
}

/** The registry API of stores this process owns. */
export class LocalAccess implements RegistryAccess {
  readonly where = 'storage'

  constructor(private readonly router: RegistryRouter) {}

  private of(repo: string) {
    return this.router.for(checkRepoName(repo))
  }

  getManifest(repo: string, reference: string): Promise<StoredManifest> {
    return this.of(repo).manifests.get(repo, reference)
  }

  async hasManifest(repo: string, digest: string): Promise<boolean> {
    try {
      await this.getManifest(repo, digest)
      return true
    } catch (err) {
      if (isAbsent(err)) return false
      throw err
    }
  }

  readBlob(repo: string, digest: string): Promise<Readable> {
    return this.of(repo).blobs.read(repo, Digest.parse(digest))
  }

  async hasBlob(repo: string, digest: string): Promise<boolean> {
    return (await this.of(repo).blobs.stat(repo, Digest.parse(digest))) !== null
  }

  async putBlob(repo: string, digest: string, bytes: Buffer): Promise<void> {
    await this.of(repo).uploads.putWhole(repo, Digest.parse(digest), Readable.from([bytes]), {
      length: bytes.length,
    })
  }

  async stageBlob(repo: string): Promise<StagedBlob> {
    const registry = this.of(repo)
    const { id } = await registry.uploads.start(repo)
    // One append for the whole blob: the session's file stays open while the bytes stream in.
    const body = new PassThrough()
    const appending = registry.uploads.append(repo, id, body)
    appending.catch(() => {}) // observed by write/seal; an abort must not leave it unhandled
    let sealed = false
    return {
      async write(chunk) {
        if (!body.write(chunk)) await Promise.race([once(body, 'drain'), appending])
      },
      async seal() {
        sealed = true
        body.end()
        await appending
      },
      async commit(digest) {
        if (!sealed) throw new Error('staged blob committed before it was sealed')
        await registry.uploads.finish(repo, id, Digest.parse(digest))
      },
      async abort() {
        // End the body rather than destroy it: the append finishes normally, then the session
        // and its bytes are cancelled.
        if (!body.writableEnded) body.end()
        await appending.catch(() => {})
        await registry.uploads.cancel(repo, id).catch((err) => {
          if (!(err instanceof RegistryError)) throw err // already gone: nothing left
        })
      },
    }
  }

  mountBlob(repo: string, digest: string, from: string): Promise<boolean> {
    return this.router.mountBlob(checkRepoName(repo), Digest.parse(digest), checkRepoName(from))
  }

  async putManifest(repo: string, reference: string, bytes: Buffer, mediaType: string) {
    await this.of(repo).manifests.put(repo, reference, bytes, mediaType, { origin: 'imported' })
  }

  async deleteManifest(repo: string, digest: string): Promise<void> {
    await this.of(repo).manifests.delete(repo, digest)
  }

  async deleteBlob(repo: string, digest: string): Promise<void> {
    await this.of(repo).deleteBlob(repo, Digest.parse(digest))
  }
}
