// A read stream that is a range of a local file, marked as such so a consumer that can do better
// than the stream (the HTTP layer's sendFile) reads the file itself. The stream stays a plain
// Readable for everyone else; whoever takes the file over destroys the stream when done, which
// closes the file.
import type { FileHandle } from 'node:fs/promises'
import type { Readable } from 'node:stream'

export interface FileSource {
  handle: FileHandle
  /** first byte, inclusive */
  start: number
  /** last byte, inclusive (Infinity: to the end of the file) */
  end: number
}

const FILE_SOURCE = Symbol('outpost.fileSource')

/** Mark `stream` as reading `source`; returns the stream. */
export function markFileSource<T extends Readable>(stream: T, source: FileSource): T {
  ;(stream as unknown as Record<symbol, FileSource>)[FILE_SOURCE] = source
  return stream
}

/** The file behind `stream`, when it is one that nothing has read from yet. */
export function fileSourceOf(stream: Readable): FileSource | undefined {
  const source = (stream as unknown as Record<symbol, FileSource | undefined>)[FILE_SOURCE]
  return source && stream.readableDidRead === false && !stream.destroyed ? source : undefined
}
