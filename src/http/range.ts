// Byte ranges: the request Range header of a blob GET (RFC 9110 §14.2, one range only) and the
// Content-Range of a chunked upload PATCH (distribution-spec: "<start>-<end>", inclusive).
import type { ByteRange } from '../storage/index.js'
import { RegistryError } from '../registry/index.js'

/**
 * The single range a `Range: bytes=...` header asks for within `size` bytes; undefined when the
 * header is absent or not one byte range (RFC 9110 lets a server ignore such a header and send
 * the whole representation). Throws RANGE_NOT_SATISFIABLE when it misses the content.
 */
export function requestedRange(header: string | undefined, size: number): ByteRange | undefined {
  if (!header) return undefined
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (!m || (m[1] === '' && m[2] === '')) return undefined
  let start: number
  let end: number
  if (m[1] === '') {
    const suffix = Number(m[2])
    if (suffix === 0) throw unsatisfiable(size)
    start = Math.max(0, size - suffix)
    end = size - 1
  } else {
    start = Number(m[1])
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
    if (m[2] !== '' && Number(m[2]) < start) return undefined // invalid: ignore, per RFC 9110
  }
  if (start >= size) throw unsatisfiable(size)
  return { start, end }
}

function unsatisfiable(size: number): RegistryError {
  return new RegistryError(
    'RANGE_NOT_SATISFIABLE',
    `range not satisfiable; blob has ${size} bytes`,
    { size },
  )
}

/** The Content-Range of an upload chunk; undefined when absent. */
export function uploadRange(
  header: string | undefined,
): { start: number; end: number } | undefined {
  if (header === undefined) return undefined
  const m = /^(?:bytes )?(\d+)-(\d+)$/.exec(header.trim())
  // Offsets past 2^53 lose precision as numbers (and no storage holds such a blob): refused.
  if (!m || !Number.isSafeInteger(Number(m[2])) || Number(m[2]) < Number(m[1])) {
    throw new RegistryError(
      'UPLOAD_RANGE_INVALID',
      `malformed Content-Range ${JSON.stringify(header)}`,
    )
  }
  return { start: Number(m[1]), end: Number(m[2]) }
}

/** The Range header of upload responses: "0-<last byte>" ("0-0" while empty, as distribution). */
export function progressRange(offset: number): string {
  return `0-${Math.max(0, offset - 1)}`
}
