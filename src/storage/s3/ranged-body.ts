// A ranged GET's body, held to the range that was asked for. S3 answers exactly the inclusive
// range (its end clamped to the object's size); a server that answers more (s3rver sends the
// whole object for `bytes=0-0`) is cut down here from what its Content-Range says it sent.
import { Readable } from 'node:stream'
import type { ByteRange } from '../driver.js'

/** `bytes <first>-<last>/<size>`; a response without one started at byte 0. */
function firstByte(contentRange: string | undefined): number {
  if (contentRange === undefined) return 0
  const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(contentRange)
  if (!m) throw new Error(`unexpected Content-Range ${JSON.stringify(contentRange)}`)
  return Number(m[1])
}

export function rangedBody(
  body: Readable,
  range: ByteRange,
  contentRange: string | undefined,
  contentLength: number | undefined,
): Readable {
  const first = firstByte(contentRange)
  const wanted = range.end - range.start + 1
  if (first === range.start && contentLength !== undefined && contentLength <= wanted) return body
  if (first > range.start) {
    body.destroy()
    throw new Error(`asked for bytes ${range.start}-${range.end}, the server sent ${contentRange}`)
  }
  return Readable.from(cut(body, range.start - first, wanted), { objectMode: false })
}

async function* cut(body: Readable, skip: number, take: number): AsyncGenerator<Buffer> {
  // Leaving the loop early (range done, or the consumer gone) destroys `body`.
  for await (const chunk of body) {
    let buf = chunk as Buffer
    if (skip >= buf.length) {
      skip -= buf.length
      continue
    }
    buf = buf.subarray(skip, skip + take)
    skip = 0
    take -= buf.length
    yield buf
    if (take === 0) return
  }
}
