// Hash bytes as they stream past, so a blob's digest is known the moment its last byte lands
// (docs/architecture.md §5.1: no re-read at finalize).
import type { Hash } from 'node:crypto'
import { Transform, type Readable, type TransformCallback } from 'node:stream'
import type { StorageDriver } from '../storage/index.js'
import { newHash, type Algorithm } from './digest.js'
import { streamedBytes } from '../util/v8-young-gc.js'

/**
 * Called with each chunk before it is passed on (e.g. the disk reserve): a throw or a rejection
 * aborts the stream before the chunk is written; a plain return lets it through at once.
 */
export type ChunkCheck = (bytes: number) => void | Promise<void>

export class HashingTap extends Transform {
  bytes = 0

  constructor(
    private readonly hashes: Hash[],
    private readonly checkChunk?: ChunkCheck,
  ) {
    super({ highWaterMark: 256 * 1024 })
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let pending: void | Promise<void>
    try {
      pending = this.checkChunk?.(chunk.length)
    } catch (err) {
      return callback(err as Error)
    }
    if (pending) {
      pending.then(
        () => this.pass(chunk, callback),
        (err: Error) => callback(err),
      )
    } else this.pass(chunk, callback)
  }

  private pass(chunk: Buffer, callback: TransformCallback): void {
    for (const hash of this.hashes) hash.update(chunk)
    this.bytes += chunk.length
    streamedBytes(chunk.length)
    callback(null, chunk)
  }
}

/**
 * `source` piped through a HashingTap, with errors passed downstream. When the tap closes early,
 * a stored object's stream is destroyed (no leaked file handle); a client's request body is only
 * unpiped (`keepSource`), because destroying it would reset the connection before the error
 * response (a 507, a 416) reaches the client.
 */
export function hashStream(
  source: NodeJS.ReadableStream & { destroy(err?: Error): void },
  hashes: Hash[],
  checkChunk?: ChunkCheck,
  keepSource = false,
): HashingTap {
  const tap = new HashingTap(hashes, checkChunk)
  source.on('error', (err: Error) => tap.destroy(err))
  // A source destroyed without an error (a request body whose client went away, an aborted
  // copy) never ends: the tap must fail, or whoever reads it waits forever.
  source.on('close', () => {
    if (!(source as unknown as Readable).readableEnded && !tap.destroyed) {
      tap.destroy(new Error('the source closed before its end'))
    }
  })
  // The reader attaches its own error handling (pipeline) and sees the failure; until it does,
  // an early failure must not go unheard and end the process.
  tap.on('error', () => {})
  tap.on('close', () => {
    if (keepSource) source.unpipe(tap)
    else source.destroy()
  })
  source.pipe(tap)
  return tap
}

/**
 * `source` passed through unchanged, failing at its end unless the bytes hash to `expected`: for
 * bytes carried from staging to another backend, so what becomes visible is what was verified
 * (the destination's write is aborted by the failure).
 */
export function verifiedStream(
  source: NodeJS.ReadableStream & { destroy(err?: Error): void },
  algorithm: Algorithm,
  expected: string,
): Transform {
  const hash = newHash(algorithm)
  const check = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk)
      callback(null, chunk)
    },
    flush(callback) {
      const actual = `${algorithm}:${hash.digest('hex')}`
      callback(actual === expected ? null : new Error(`bytes hash to ${actual}, not ${expected}`))
    },
  })
  source.on('error', (err: Error) => check.destroy(err))
  check.on('close', () => source.destroy())
  source.pipe(check)
  return check
}

/**
 * Hash a stored object by streaming it. The Hash is returned unfinished, so an upload session
 * rebuilt after a restart can go on feeding it.
 */
export async function hashStored(
  driver: StorageDriver,
  key: string,
  algorithm: Algorithm,
): Promise<{ hash: Hash; size: number }> {
  const hash = newHash(algorithm)
  let size = 0
  for await (const chunk of await driver.read(key)) {
    hash.update(chunk as Buffer)
    size += (chunk as Buffer).length
  }
  return { hash, size }
}

/** A paced hash stopped part-way (a shutdown): nothing was learnt about the bytes. */
export const STOPPED = Symbol('stopped')

/**
 * Hash a stored object for background work (scrub, the dedupe pass): `pace` is asked before each
 * chunk, so a big blob at a small ioRate keeps to the budget, and a shutdown does not wait for
 * its end. `actual` is `<algorithm>:<hex>`, or null when the object could not be read whole.
 */
export async function hashStoredPaced(
  driver: StorageDriver,
  key: string,
  algorithm: Algorithm,
  pace: (bytes: number) => Promise<void>,
  shouldStop: () => boolean,
): Promise<{ actual: string | null; bytes: number } | typeof STOPPED> {
  const hash = newHash(algorithm)
  let bytes = 0
  try {
    for await (const chunk of await driver.read(key)) {
      if (shouldStop()) return STOPPED
      await pace((chunk as Buffer).length)
      hash.update(chunk as Buffer)
      bytes += (chunk as Buffer).length
    }
  } catch {
    return { actual: null, bytes }
  }
  return { actual: `${algorithm}:${hash.digest('hex')}`, bytes }
}
