// A blob from an upstream that arrives whole over a link that drops (distribution-spec "Pulling
// blobs", RFC 9110 §14 range requests): when an answer ends before the blob does, the download
// goes on with `Range: bytes=<received>-`, and the reader sees one unbroken stream of the bytes
// from `start` to the end. Bytes are counted here, never hashed: the reader holds the hash (an
// upload session, the pull-through tee), so each byte is hashed once and nothing is re-read.
//
// An upstream that ignores Range answers 200 with the whole blob: its first <received> bytes are
// dropped rather than passed on, so the reader never has to start over. That is sound because a
// blob is content-addressed (the bytes at an offset are the same in every answer), and the
// reader's digest check covers any upstream that breaks it.
//
// Retry policy: an answer that brought new bytes is progress, and the next one is asked for at
// once, so a link that cuts every transfer after 1 MiB still delivers a blob of any size.
// `maxRetries` bounds the attempts in a row that brought nothing, each after the retry delay.
//
// Nothing here knows pull-through or mirroring: both open blobs through it.
import { Readable } from 'node:stream'
import type { UpstreamResponse } from './upstream-client.js'
import { RegistryError, type Digest, type LogFn } from '../registry/index.js'
import { UpstreamError } from './upstream-client.js'
import type { Route } from './upstream-fetch.js'

/**
 * The upstream's answers contradict the blob or each other (a size that changed, a Content-Range
 * that is not the one asked for, more bytes than the blob has, content with another digest):
 * retrying cannot help, and whatever was staged from it must not be continued.
 */
export class UnusableBlobAnswer extends UpstreamError {
  override name = 'UnusableBlobAnswer'
}

export interface ResumableOptions {
  /** the blob's size when the caller knows it (a descriptor's); else learned from the answers */
  size?: number
  /** bytes the caller already holds: the download asks for the rest from there */
  start?: number
  /** the wait before an attempt after one that brought nothing (default: the route's) */
  retryDelayMs?: number
  log?: LogFn
}

export interface ResumableBlob {
  /** the whole blob's size; NaN when the upstream never said */
  size: number
  /** the bytes from `start` to the end, assembled from as many answers as it took */
  body: Readable
  /** answers asked for after the first */
  readonly resumes: number
}

interface Answer {
  /** absent when nothing is left to send */
  body?: Readable
  /** leading bytes of `body` the reader already has (an upstream that ignored Range) */
  skip: number
}

/**
 * GET the blob from `start` on. The first request is made before this resolves, so a missing
 * blob (BLOB_UNKNOWN) or an unreachable upstream fails here, before any byte was promised.
 */
export async function openResumableBlob(
  route: Route,
  digest: Digest,
  options: ResumableOptions = {},
): Promise<ResumableBlob> {
  const download = new Download(route, digest, options)
  const first = await download.open(true)
  const body = Readable.from(download.chunks(first), { objectMode: false })
  // Destroyed before its first read, the generator never runs: the first answer's socket must
  // not wait for its idle timeout (a no-op once the generator took it).
  body.once('close', () => first.body?.destroy())
  return {
    size: download.size,
    body,
    get resumes() {
      return download.resumes
    },
  }
}

class Download {
  size: number
  resumes = 0
  /** the blob's bytes the reader has (or held before this download started) */
  private received: number
  private readonly delayMs: number

  constructor(
    private readonly route: Route,
    private readonly digest: Digest,
    private readonly options: ResumableOptions,
  ) {
    this.size = options.size ?? NaN
    this.received = options.start ?? 0
    this.delayMs = options.retryDelayMs ?? route.settings.retryDelayMs
  }

  private get upstream(): string {
    return this.route.client.name
  }

  /** One request for the rest of the blob; the first retries as every upstream request does. */
  async open(first: boolean): Promise<Answer> {
    const at = this.received
    if (at > 0 && at === this.size) return { skip: 0 }
    const { client, remote } = this.route
    const res = await client.request('GET', remote, `/v2/${remote}/blobs/${this.digest}`, {
      retry: first,
      ...(at > 0 && { range: `bytes=${at}-` }),
    })
    try {
      return this.accept(res, at)
    } catch (err) {
      res.body.destroy()
      throw err
    }
  }

  private accept(res: UpstreamResponse, at: number): Answer {
    const contentRange = String(res.headers['content-range'] ?? '')
    switch (res.status) {
      case 200:
        // The whole blob, from byte 0 (RFC 9110 §14.2 lets a server ignore Range).
        this.learnSize(Number(res.headers['content-length'] ?? NaN))
        return { body: res.body, skip: at }
      case 206: {
        const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange)
        if (!m || Number(m[1]) !== at) {
          throw new UnusableBlobAnswer(
            this.upstream,
            `answered Range bytes=${at}- with Content-Range ${JSON.stringify(contentRange)}`,
          )
        }
        if (m[3] !== '*') this.learnSize(Number(m[3]))
        return { body: res.body, skip: 0 }
      }
      case 416: {
        // RFC 9110 §15.5.17: `bytes */<size>`. Asking from the very end means we hold it all.
        const m = /^bytes \*\/(\d+)$/.exec(contentRange)
        if (m && Number(m[1]) === at) {
          this.learnSize(at)
          res.body.resume()
          return { skip: 0 }
        }
        throw new UnusableBlobAnswer(
          this.upstream,
          `has fewer than the ${at} bytes already received of blob ${this.digest}`,
        )
      }
      case 404:
        throw new RegistryError(
          'BLOB_UNKNOWN',
          `blob unknown: ${this.digest} (not cached, and upstream ${this.upstream} does not have it)`,
          { upstream: this.upstream, status: 404 },
        )
      default:
        throw new UpstreamError(this.upstream, `answered ${res.status} for the blob`, res.status)
    }
  }

  private learnSize(size: number): void {
    if (Number.isNaN(size)) return
    if (!Number.isNaN(this.size) && size !== this.size) {
      throw new UnusableBlobAnswer(
        this.upstream,
        `says blob ${this.digest} has ${size} bytes, not ${this.size}`,
      )
    }
    this.size = size
  }

  /** Every answer's new bytes in order, asking again while the blob is incomplete. */
  async *chunks(first: Answer): AsyncGenerator<Buffer> {
    let answer: Answer | undefined = first
    let idle = 0
    let failure: unknown
    for (;;) {
      const before = this.received
      if (answer) {
        if (!answer.body) return
        try {
          yield* this.drain(answer.body, answer.skip)
          if (Number.isNaN(this.size) || this.received === this.size) return
          failure = new Error('the answer ended early')
        } catch (err) {
          if (!retryable(err)) throw err
          failure = err
        } finally {
          answer.body.destroy()
        }
      }
      idle = this.received > before ? 0 : idle + 1
      if (idle > this.route.settings.maxRetries) throw this.gaveUp(failure)
      if (idle > 0) await sleep(this.delayMs)
      this.resumes++
      this.options.log?.('upstream blob download resumed', {
        upstream: this.upstream,
        digest: `${this.digest}`,
        at: this.received,
        error: describe(failure),
      })
      try {
        answer = await this.open(false)
      } catch (err) {
        if (!retryable(err)) throw err
        failure = err
        answer = undefined
      }
    }
  }

  private async *drain(body: Readable, skip: number): AsyncGenerator<Buffer> {
    for await (let chunk of body as AsyncIterable<Buffer>) {
      if (skip > 0) {
        if (chunk.length <= skip) {
          skip -= chunk.length
          continue
        }
        chunk = chunk.subarray(skip)
        skip = 0
      }
      if (this.received + chunk.length > this.size) {
        throw new UnusableBlobAnswer(
          this.upstream,
          `sent more than the ${this.size} bytes of blob ${this.digest}`,
        )
      }
      this.received += chunk.length
      yield chunk
    }
  }

  private gaveUp(failure: unknown): UpstreamError {
    const of = Number.isNaN(this.size) ? '' : ` of ${this.size}`
    return new UpstreamError(
      this.upstream,
      `blob ${this.digest} broke off after ${this.received}${of} bytes and ${this.route.settings.maxRetries + 1} attempts in a row brought no more: ${describe(failure)}`,
    )
  }
}

function retryable(err: unknown): boolean {
  return !(err instanceof UnusableBlobAnswer || err instanceof RegistryError)
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
