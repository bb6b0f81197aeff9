// Streams a sync copies blobs through: a bandwidth cap shared by every transfer of one sync
// (sequential transfers: a token bucket of one second's worth), and a digest check that fails
// the stream, before it ends, when the bytes are not what their digest says, so the object
// being written never appears (S3 aborts the upload; the registry discards the session).
import { createHash } from 'node:crypto'
import { PassThrough, Transform } from 'node:stream'
import type { Digest } from '../registry/index.js'

export class RateLimit {
  private tokens: number
  private at = Date.now()

  /** `bytesPerSecond`: Infinity for no cap. */
  constructor(readonly bytesPerSecond: number) {
    this.tokens = bytesPerSecond
  }

  /** Wait until `bytes` more may go out. */
  async take(bytes: number): Promise<void> {
    const rate = this.bytesPerSecond
    if (!Number.isFinite(rate)) return
    const now = Date.now()
    this.tokens = Math.min(rate, this.tokens + ((now - this.at) / 1000) * rate)
    this.at = now
    this.tokens -= bytes
    if (this.tokens < 0) await new Promise((r) => setTimeout(r, (-this.tokens / rate) * 1000))
  }

  /** A pass-through that holds each chunk back as long as the cap requires. */
  stream(): Transform {
    if (!Number.isFinite(this.bytesPerSecond)) return new PassThrough()
    return new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        this.take(chunk.length).then(() => done(null, chunk), done)
      },
    })
  }
}

export class ContentMismatchError extends Error {
  constructor(
    readonly digest: Digest,
    actual: string,
    size: number,
  ) {
    super(`blob ${digest} does not match its digest (read ${size} bytes hashing to ${actual})`)
    this.name = 'ContentMismatchError'
  }
}

/** A pass-through that fails at the end unless the bytes hash to `digest` and are `size` long. */
export function verifying(digest: Digest, size: number): Transform {
  const hash = createHash(digest.algorithm)
  let seen = 0
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk)
      seen += chunk.length
      done(null, chunk)
    },
    flush(done) {
      const actual = `${digest.algorithm}:${hash.digest('hex')}`
      if (actual !== digest.toString() || seen !== size)
        done(new ContentMismatchError(digest, actual, seen))
      else done()
    },
  })
}
