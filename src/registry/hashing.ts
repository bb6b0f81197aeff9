// Hash bytes as they stream past, so a blob's digest is known the moment its last byte lands
// (DESIGN.md invariant 1: no re-read at finalize).
import type { Hash } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'

export class HashingTap extends Transform {
  bytes = 0

  constructor(private readonly hashes: Hash[]) {
    super({ highWaterMark: 256 * 1024 })
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    for (const hash of this.hashes) hash.update(chunk)
    this.bytes += chunk.length
    callback(null, chunk)
  }
}

/** `source` piped through a HashingTap, with errors and early teardown passed both ways. */
export function hashStream(
  source: NodeJS.ReadableStream & { destroy(err?: Error): void },
  hashes: Hash[],
): HashingTap {
  const tap = new HashingTap(hashes)
  source.on('error', (err: Error) => tap.destroy(err))
  tap.on('close', () => source.destroy())
  source.pipe(tap)
  return tap
}
