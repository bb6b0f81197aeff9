// A small request body taken whole into memory (a monolithic upload small enough to skip the
// staging file, see uploads.ts): it must hold exactly the bytes its Content-Length declared.
import type { Readable } from 'node:stream'
import { RegistryError } from './errors.js'

/** A small body read whole; it must be exactly as long as the client declared. */
export async function readWhole(body: Readable, length: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of body) {
    total += (chunk as Buffer).length
    if (total > length) break
    chunks.push(chunk as Buffer)
  }
  if (total !== length) {
    throw new RegistryError(
      'SIZE_INVALID',
      `the body held ${total > length ? 'more' : 'fewer'} bytes than its Content-Length ${length}`,
    )
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total)
}
