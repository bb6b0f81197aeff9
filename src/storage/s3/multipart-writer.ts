// A streamed write to S3 in parts of `partSize`, in memory that is fixed per upload: `queueSize`
// part buffers in flight and one being filled, allocated once and reused, whatever the blob
// size. It replaces @aws-sdk/lib-storage's Upload, which cuts every part out of a fresh
// Buffer.concat() (the remainder a view of it), so each part allocates a new chunksize Buffer,
// and about chunksize x (queueSize + 2) is live while the old ones await a collection. Measured
// by bench/s3.ts on 256 MiB blobs, queueSize 2, 3 runs each, server peak RSS over idle while a
// staged blob is carried to S3: lib-storage +47..+60 MiB at 5 MiB parts, +70..+103 MiB at
// 10 MiB (Outpost's default chunksize, over the +64 MiB target); this writer +33..+43 and
// +27..+55. At 1 GiB (2 runs each) every workload stayed within +61 MiB with this writer.
//
// Per the S3 API: every part but the last is at least 5 MiB (chunksize is validated for that),
// at most 10,000 parts, and nothing is visible until CompleteMultipartUpload; an upload that is
// not completed must be aborted (AbortMultipartUpload) or its parts stay, billed.
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3'
import type { Readable } from 'node:stream'
import type { S3WriteParams } from '../../config/s3-driver-options.js'

/** The S3 API's limit on parts per multipart upload. */
const MAX_PARTS = 10_000

export interface MultipartTarget {
  client: S3Client
  bucket: string
  /** the object key (prefix included) */
  key: string
  /** sent with the object-creating request: PutObject or CreateMultipartUpload */
  params: S3WriteParams
  partSize: number
  /** parts uploading at once */
  queueSize: number
}

/**
 * Write `source` to `target.key` and resolve with its length once the object is visible. A
 * source of at most one part goes up as a single PutObject of its chunks joined. On a failed
 * source, a failed part or an abort (`source` destroyed with an AbortError, as addAbortSignal
 * does) the parts in flight are cancelled and waited for, the upload is aborted, and only then
 * does this reject, with the first error; `source` is destroyed.
 */
export async function writeMultipart(target: MultipartTarget, source: Readable): Promise<number> {
  const { client, bucket, key, partSize, queueSize } = target
  const Bucket = bucket
  const Key = key
  const spare: Buffer[] = []
  const inFlight = new Set<Promise<void>>()
  const parts: CompletedPart[] = []
  // Cancels the parts in flight once anything failed; a failed part also ends the source, so a
  // read waiting on a stalled client ends at once.
  const cancel = new AbortController()
  let failure = undefined as { error: unknown } | undefined
  const fail = (error: unknown) => {
    failure ??= { error }
    cancel.abort()
    source.destroy()
  }
  /** A part failed (or an abort began): stop reading and rethrow the first error. */
  const rethrowFailure = () => {
    if (failure) throw failure.error
  }
  let uploadId: string | undefined
  // The first part's chunks are only held, not copied, until more than one part arrives: a small
  // write allocates no part buffer.
  let head: Buffer[] | undefined = []
  let headLength = 0
  let current: Buffer | undefined
  let filled = 0
  let partNumber = 0
  let total = 0

  function takeBuffer(): Buffer {
    const reused = spare.pop()
    if (reused) return reused
    // Outside the shared pool and never zeroed: every byte sent is one copied in first.
    return Buffer.allocUnsafeSlow(partSize)
  }

  function uploadPart(buffer: Buffer, length: number): void {
    partNumber += 1
    if (partNumber > MAX_PARTS) throw new Error(`more than ${MAX_PARTS} parts of ${partSize} bytes`)
    const PartNumber = partNumber
    const sending = client
      .send(
        new UploadPartCommand({
          Bucket,
          Key,
          UploadId: uploadId,
          PartNumber,
          Body: buffer.subarray(0, length),
        }),
        { abortSignal: cancel.signal },
      )
      .then(
        (out) => {
          if (!out.ETag) throw new Error(`UploadPart ${PartNumber} of ${Key} returned no ETag`)
          parts.push({ PartNumber, ETag: out.ETag })
        },
        (err: unknown) => fail(err),
      )
      .catch(fail)
      .finally(() => {
        inFlight.delete(sending)
        spare.push(buffer)
      })
    inFlight.add(sending)
  }

  /** The full buffer goes up; resolves once a buffer is free to fill next. */
  async function flush(): Promise<void> {
    if (uploadId === undefined) {
      const created = await client.send(
        new CreateMultipartUploadCommand({ Bucket, Key, ...target.params }),
      )
      if (!created.UploadId) throw new Error(`CreateMultipartUpload of ${Key} returned no id`)
      uploadId = created.UploadId
    }
    uploadPart(current!, filled)
    while (inFlight.size >= queueSize && failure === undefined) await Promise.race(inFlight)
    rethrowFailure()
    current = takeBuffer()
    filled = 0
  }

  try {
    for await (const data of source as AsyncIterable<Buffer | Uint8Array | string>) {
      rethrowFailure()
      const chunk = asBuffer(data)
      total += chunk.length
      if (head) {
        if (headLength + chunk.length <= partSize) {
          head.push(chunk)
          headLength += chunk.length
          continue
        }
        current = takeBuffer()
        for (const held of head) filled += held.copy(current, filled)
        head = undefined
      }
      for (let at = 0; at < chunk.length;) {
        // A full buffer goes up only when more bytes follow: a source of exactly one part is
        // a PutObject.
        if (filled === partSize) await flush()
        const n = chunk.copy(current!, filled, at)
        filled += n
        at += n
      }
    }
    rethrowFailure()
    if (head) {
      const Body = head.length === 1 ? head[0] : Buffer.concat(head, headLength)
      await client.send(new PutObjectCommand({ Bucket, Key, Body, ...target.params }))
      return total
    }
    uploadPart(current!, filled)
    await Promise.all(inFlight)
    rethrowFailure()
    parts.sort((a, b) => a.PartNumber! - b.PartNumber!)
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket,
        Key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
      }),
    )
    return total
  } catch (err) {
    const error = failure?.error ?? err
    fail(error)
    await Promise.all(inFlight)
    if (uploadId !== undefined) {
      try {
        await client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId: uploadId }))
      } catch (abortError) {
        if (error instanceof Error && error.cause === undefined) error.cause = abortError
      }
    }
    throw error
  }
}

/** A chunk as a Buffer, without a copy unless it is a string (a Readable.from of strings). */
function asBuffer(data: Buffer | Uint8Array | string): Buffer {
  if (Buffer.isBuffer(data)) return data
  if (typeof data === 'string') return Buffer.from(data)
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength)
}
