// One upstream blob body, two readers: the client being served and the store being filled. The
// store gets every byte as it arrives; the client gets every byte but the last chunk until the
// whole body hashed to its digest, so a client is never handed a complete body that does not
// match: on a mismatch, or when the upstream breaks off, the client's branch is destroyed (its
// connection aborts). The store's branch is ended normally in every case, so it holds every byte
// received: the caller publishes it when `received` resolves, and otherwise decides whether the
// staged bytes are worth continuing (an upstream that broke off) or not (a mismatch).
// With a staged prefix (bytes a previous download left), the client gets those bytes first, read
// from the store, and the hash goes on from the prefix's: upstream bytes only follow them.
// Each branch keeps the pace of the slower one (backpressure), and a branch that goes away (the
// client disconnects, the store fails) stops holding the other back.
import { createHash, type Hash } from 'node:crypto'
import { PassThrough, type Readable } from 'node:stream'
import type { Digest } from '../registry/index.js'
import { UnusableBlobAnswer } from './resumable-blob.js'

export interface TeeResult {
  /** the bytes for the client (the staged prefix first) */
  client: Readable
  /**
   * resolves once the store's branch took every byte and they hashed to the digest; rejects
   * with the upstream's failure, an UnusableBlobAnswer (a mismatch) or the store's failure
   */
  received: Promise<void>
}

/** Bytes an earlier download staged: their running hash, and a way to read them. */
export interface StagedPrefix {
  hash: Hash
  read: () => Promise<Readable>
}

const BRANCH_BUFFER = 1024 * 1024

export function teeBlob(
  upstream: Readable,
  digest: Digest,
  store: (body: Readable) => Promise<unknown>,
  upstreamName: string,
  staged?: StagedPrefix,
): TeeResult {
  const toStore = new PassThrough({ highWaterMark: BRANCH_BUFFER })
  const toClient = new PassThrough({ highWaterMark: BRANCH_BUFFER })
  let storeAlive = true
  let clientAlive = true
  let storeError: unknown
  toClient.once('close', () => (clientAlive = false))
  // A branch may fail before its consumer is attached (the store awaits a space check first):
  // the failure reaches the consumer through the branch's destroyed state, and `received`.
  toStore.on('error', () => {})
  toClient.on('error', () => {})
  const storing = store(toStore).catch((err) => {
    storeAlive = false
    storeError = err
    toStore.destroy()
  })

  const hash = staged?.hash ?? createHash(digest.algorithm)
  let held: Buffer | undefined
  /** One chunk on: to the store (new bytes only) at once, to the client one chunk behind. */
  const forward = async (chunk: Buffer, toStoreToo: boolean) => {
    const waits: Promise<void>[] = []
    if (toStoreToo) {
      hash.update(chunk)
      if (storeAlive && !toStore.write(chunk)) waits.push(drained(toStore))
    }
    if (held && clientAlive && !toClient.write(held)) waits.push(drained(toClient))
    held = chunk
    await Promise.all(waits)
  }

  const pump = async () => {
    try {
      if (staged && clientAlive) {
        for await (const chunk of await staged.read()) {
          await forward(chunk as Buffer, false)
          if (!clientAlive) break
        }
      }
      for await (const chunk of upstream as AsyncIterable<Buffer>) {
        await forward(chunk, true)
        if (!storeAlive && !clientAlive) {
          upstream.destroy()
          return
        }
      }
      const actual = hash.digest('hex')
      if (actual !== digest.hex) {
        throw new UnusableBlobAnswer(
          upstreamName,
          `sent content with digest ${digest.algorithm}:${actual}`,
        )
      }
      if (storeAlive) toStore.end()
      if (clientAlive) {
        if (held) toClient.write(held)
        toClient.end()
      }
    } catch (err) {
      // The store's branch got every byte so far: its owner keeps or discards them.
      if (storeAlive) toStore.end()
      toClient.destroy(err as Error)
      upstream.destroy()
      throw err
    }
  }

  const pumped = pump()
  const received = Promise.all([pumped, storing]).then(() => {
    if (!storeAlive) throw storeError ?? new Error('the store stopped reading')
  })
  // Whoever awaits `received` sees the failure; the branches already carry it.
  pumped.catch(() => {})
  return { client: toClient, received }
}

/** Resolves when `stream` wants more, or is gone (a destroyed branch holds nothing back). */
function drained(stream: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done)
      stream.off('close', done)
      resolve()
    }
    stream.once('drain', done)
    stream.once('close', done)
  })
}
