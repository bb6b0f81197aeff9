// The S3 driver (docs/architecture.md §3): keys are object keys under
// `rootdirectory`. What S3 gives for free it uses (PutObject and CompleteMultipartUpload are
// atomic, so a reader sees the old object or the new one); what it lacks it leaves out of its
// capabilities: no append, no hard links (refer and copy instead), no free-space figure, no local
// files, no real directories (prune is a no-op). Reads stream from GetObject and writes stream through
// multipart uploads of `chunksize` parts, so memory is bounded whatever the blob size.
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3'
import { addAbortSignal, type Readable } from 'node:stream'
import {
  StorageNotFoundError,
  type ListEntry,
  type ObjectInfo,
  type ReadOptions,
  type StorageDriver,
  type Unavailability,
  type WriteOptions,
} from '../driver.js'
import { childrenOf } from './listing.js'
import { writeMultipart } from './multipart-writer.js'
import { rangedBody } from './ranged-body.js'
import {
  DEFAULT_CHUNK_SIZE,
  UPLOAD_QUEUE_SIZE,
  type S3Settings,
} from '../../config/s3-driver-options.js'

/**
 * The user-metadata field of a reference object (`x-amz-meta-outpost-ref`): the driver key of the
 * object whose bytes it reads as. The reference itself has an empty body.
 */
const REF_FIELD = 'outpost-ref'

/** DeleteObjects takes at most this many keys per call. */
const DELETE_BATCH = 1000

export const APPEND_UNSUPPORTED =
  'append writes are not supported by the S3 driver; upload sessions stage on local disk'

/** S3's answer for a missing key: NoSuchKey from GET/COPY, a bare 404 (NotFound) from HEAD. */
function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | null
  if (e?.name === 'NoSuchBucket') return false // a configuration error, not an absent object
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404
}

/** 416: a range outside the object. */
function isInvalidRange(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | null
  return e?.name === 'InvalidRange' || e?.$metadata?.httpStatusCode === 416
}

/** Errors of the connection, not of S3's answer: the endpoint cannot be reached. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'TimeoutError',
])

/** The connection failure inside an SDK error (its code, a cause's, or one of an aggregate's). */
function unreachableCode(err: unknown, depth = 0): string | undefined {
  const e = err as { code?: string; name?: string; cause?: unknown; errors?: unknown[] } | null
  if (!e || depth > 4) return undefined
  for (const code of [e.code, e.name]) if (code && UNREACHABLE.has(code)) return code
  for (const inner of [e.cause, ...(e.errors ?? [])]) {
    const found = unreachableCode(inner, depth + 1)
    if (found) return found
  }
  return undefined
}

export type S3DriverOptions = Pick<S3Settings, 'bucket' | 'prefix' | 'client' | 'write'> &
  Partial<Pick<S3Settings, 'partSize' | 'queueSize'>> & {
    /** Keys per ListObjectsV2 page (S3's maximum, 1000, by default). */
    listPageSize?: number
  }

export class S3Driver implements StorageDriver {
  readonly client: S3Client
  readonly label: string
  private readonly bucket: string
  private readonly prefix: string
  private readonly options: S3DriverOptions

  constructor(options: S3DriverOptions) {
    this.options = options
    this.bucket = options.bucket
    this.prefix = options.prefix
    this.client = new S3Client(options.client)
    const { endpoint, region } = options.client
    const where =
      typeof endpoint === 'string' ? endpoint : typeof region === 'string' ? `AWS ${region}` : 'AWS'
    this.label = `s3 (bucket ${options.bucket} at ${where})`
  }

  unavailable(err: unknown): Unavailability | undefined {
    const code = unreachableCode(err)
    return code === undefined ? undefined : { reason: `unreachable: ${code}` }
  }

  /** HeadBucket: one small request that needs the endpoint, the bucket and the credentials. */
  async probe(signal: AbortSignal): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: signal })
  }

  /** Release the client's sockets. */
  close(): void {
    this.client.destroy()
  }

  /** Keys arrive checked (openDriver): this only puts them under the configured prefix. */
  private objectKey(key: string): string {
    return this.prefix === '' ? key : `${this.prefix}/${key}`
  }

  /** The object-key prefix of everything under `prefix` ('' for the driver's root). */
  private childPrefix(prefix: string): string {
    if (prefix === '') return this.prefix === '' ? '' : `${this.prefix}/`
    return `${this.objectKey(prefix)}/`
  }

  async get(key: string): Promise<Buffer> {
    const body = await this.read(key)
    const chunks: Buffer[] = []
    for await (const chunk of body) chunks.push(chunk as Buffer)
    return Buffer.concat(chunks)
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    const Key = this.objectKey(key)
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key, Body: bytes, ...this.options.write }),
    )
  }

  async read(key: string, options: ReadOptions = {}): Promise<Readable> {
    let out
    try {
      out = await this.getObject(key, key, options)
    } catch (err) {
      // A range of a reference is outside its empty body: S3 answers 416 before we can see it
      // is a reference.
      const target = isInvalidRange(err) ? (await this.head(key))?.Metadata?.[REF_FIELD] : undefined
      if (target === undefined) throw err
      out = await this.getObject(target, key, options)
    }
    const target = out.Metadata?.[REF_FIELD]
    if (target !== undefined) {
      // A reference: its (empty) body is dropped and the target is read instead.
      ;(out.Body as Readable).destroy()
      out = await this.getObject(target, key, options)
    }
    let body = out.Body as Readable
    if (options.range) body = rangedBody(body, options.range, out.ContentRange, out.ContentLength)
    return options.signal ? addAbortSignal(options.signal, body) : body
  }

  /** GetObject; absence (of `key` itself, or of a reference's target) reported as `asked`. */
  private async getObject(key: string, asked: string, options: ReadOptions) {
    const range = options.range
    try {
      // Awaiting the response (not its body) is what reports absence before the first byte.
      return await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.objectKey(key),
          Range: range ? `bytes=${range.start}-${range.end}` : undefined,
        }),
        { abortSignal: options.signal },
      )
    } catch (err) {
      throw isNotFound(err) ? new StorageNotFoundError(asked) : err
    }
  }

  /**
   * A multipart upload of `partSize` parts, `queueSize` of them in flight, in buffers allocated
   * once per upload (multipart-writer.ts); a body of at most one part goes up as a single
   * PutObject. The object appears only when the upload completes. On a failed or aborted source
   * the upload is aborted (AbortMultipartUpload) before this rejects, so no parts are left to
   * bill. S3 has no append: upload sessions, which need it, stage on the local disk and reach S3
   * in one write at finalize.
   */
  async write(key: string, source: Readable, options: WriteOptions = {}): Promise<number> {
    if (options.append) throw new Error(APPEND_UNSUPPORTED)
    const Key = this.objectKey(key)
    // An abort destroys the source; the writer then cancels its parts, aborts the multipart
    // upload and only then rejects.
    if (options.signal) addAbortSignal(options.signal, source)
    return writeMultipart(
      {
        client: this.client,
        bucket: this.bucket,
        key: Key,
        params: this.options.write,
        partSize: this.options.partSize ?? DEFAULT_CHUNK_SIZE,
        queueSize: this.options.queueSize ?? UPLOAD_QUEUE_SIZE,
      },
      source,
    )
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    const own = await this.head(key)
    const target = own?.Metadata?.[REF_FIELD]
    if (!own || target === undefined) return own && objectInfo(own)
    // A reference: the target's size and identity, the reference's own age. A target that is
    // gone makes the reference absent.
    const resolved = await this.head(target)
    return resolved && { ...objectInfo(resolved), mtimeMs: objectInfo(own).mtimeMs, target }
  }

  private async head(key: string) {
    try {
      return await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
      )
    } catch (err) {
      if (isNotFound(err)) return null
      throw err
    }
  }

  /**
   * A reference object at `key` naming `target` in its metadata: an empty PutObject, atomic like
   * any other. The target must exist now; it is resolved again on every read.
   */
  async refer(target: string, key: string): Promise<void> {
    const info = await this.stat(target)
    if (!info) throw new StorageNotFoundError(target)
    // A reference to a reference would chain reads: point at what the target resolves to.
    const Metadata = { [REF_FIELD]: info.target ?? target }
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.objectKey(key),
        Body: new Uint8Array(0),
        Metadata,
        ...this.options.write,
      }),
    )
  }

  /**
   * Server-side CopyObject to `to` of the bytes `from` reads as (a reference is copied as its
   * target), with fresh metadata, so the copy is a plain object. See `move` on the 5 GiB limit.
   */
  async copy(from: string, to: string): Promise<void> {
    const info = await this.stat(from)
    if (!info) throw new StorageNotFoundError(from)
    await this.copyObject(info.target ?? from, to, 'REPLACE')
  }

  private async copyObject(from: string, to: string, directive: 'COPY' | 'REPLACE') {
    const source = this.objectKey(from)
    const CopySource = `${this.bucket}/${source.split('/').map(encodeURIComponent).join('/')}`
    try {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: this.objectKey(to),
          CopySource,
          MetadataDirective: directive,
          ...this.options.write,
        }),
      )
    } catch (err) {
      throw isNotFound(err) ? new StorageNotFoundError(from) : err
    }
  }

  /**
   * Direct children of `prefix`. Listed without a delimiter, because delimiter listings of
   * nested keys are wrong on some S3-compatible servers (s3rver), and grouped here; a page that
   * ends inside a child's subtree makes the next page start after that subtree.
   */
  list(prefix: string): AsyncIterable<ListEntry> {
    const base = this.childPrefix(prefix)
    return childrenOf(base, (startAfter) => this.listPage(base, startAfter))
  }

  private async listPage(base: string, startAfter: string | undefined) {
    const out = await this.client.send(
      new ListObjectsV2Command({
        Bucket: this.bucket,
        Prefix: base,
        StartAfter: startAfter,
        MaxKeys: this.options.listPageSize,
      }),
    )
    const keys = (out.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [o.Key]))
    return { keys, truncated: out.IsTruncated === true }
  }

  /**
   * Server-side CopyObject, then DeleteObject of the source. A single CopyObject takes objects
   * up to 5 GiB; multipart copy (UploadPartCopy) would lift that, but s3rver and other
   * S3-compatible servers lack it, so multipartcopy* settings are accepted with a warning.
   */
  async move(from: string, to: string): Promise<void> {
    const source = this.objectKey(from)
    const Key = this.objectKey(to)
    if (source === Key) {
      // S3 refuses to copy an object onto itself, and the delete would then lose it.
      if ((await this.stat(from)) === null) throw new StorageNotFoundError(from)
      return
    }
    // A reference moves as a reference: its metadata is copied with it.
    await this.copyObject(from, to, 'COPY')
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: source }))
  }

  async delete(key: string): Promise<void> {
    // S3's DeleteObject succeeds for a missing key: idempotent as the contract asks.
    await this.client.send(
      new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
    )
  }

  /**
   * Everything under `prefix` (and an object named `prefix` itself, as rm -r would), in
   * batches of DeleteObjects. Each round lists from the start again: what was deleted is gone,
   * so this needs no pagination state a server could get wrong.
   */
  async deletePrefix(prefix: string): Promise<void> {
    await this.delete(prefix) // a checked key is never '', so `base` is never the whole root
    const base = this.childPrefix(prefix)
    let previous = new Set<string>()
    for (;;) {
      const out = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: base, MaxKeys: DELETE_BATCH }),
      )
      const keys = (out.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [o.Key]))
      if (keys.length === 0) return
      if (keys.every((k) => previous.has(k))) {
        throw new Error(`deletePrefix ${prefix}: objects listed again after their deletion`)
      }
      previous = new Set(keys)
      const result = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
        }),
      )
      const failed = result.Errors ?? []
      if (failed.length > 0) {
        const first = failed[0]
        throw new Error(
          `deletePrefix ${prefix}: ${failed.length} objects not deleted (${first.Key}: ${first.Code} ${first.Message})`,
        )
      }
    }
  }

  /** Prefixes are not real on S3: nothing to remove once their objects are gone. */
  async prune(): Promise<void> {}
}

function objectInfo(out: { ContentLength?: number; LastModified?: Date; ETag?: string }) {
  return {
    size: out.ContentLength ?? 0,
    mtimeMs: out.LastModified?.getTime() ?? 0,
    ...(out.ETag !== undefined && { identity: out.ETag }),
  }
}
