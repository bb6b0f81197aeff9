// The `openFile` capability's result (driver.ts): a range of a local file, open for reading. A
// driver with `openFile` returns from `read` the stream `fileStream` makes of it: a plain Readable
// for every consumer, which also carries its file, so a consumer that can do better than the
// stream (the HTTP layer's sendFile) takes the file over with `fileSourceOf` through any layer
// that passes the stream along. Whoever takes the file over destroys the stream when done, which
// closes the file.
import { createReadStream } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'
import type { Readable } from 'node:stream'

export interface FileSource {
  handle: FileHandle
  /** first byte, inclusive */
  start: number
  /** last byte, inclusive (Infinity: to the end of the file) */
  end: number
}

/** Bytes per read of a file stream: fewer, larger reads for blob-sized files. */
const READ_CHUNK_BYTES = 256 * 1024

const FILE_SOURCE = Symbol('outpost.fileSource')

/** A stream of `source`'s range that carries `source` (see the module comment); owns the handle. */
export function fileStream(source: FileSource, signal?: AbortSignal): Readable {
  const stream = createReadStream('', {
    fd: source.handle,
    start: source.start,
    end: source.end === Infinity ? undefined : source.end,
    highWaterMark: READ_CHUNK_BYTES,
    signal,
  })
  ;(stream as unknown as Record<symbol, FileSource>)[FILE_SOURCE] = source
  return stream
}

/** The file behind `stream`, when it is a `fileStream` that nothing has read from yet. */
export function fileSourceOf(stream: Readable): FileSource | undefined {
  const source = (stream as unknown as Record<symbol, FileSource | undefined>)[FILE_SOURCE]
  return source && stream.readableDidRead === false && !stream.destroyed ? source : undefined
}
