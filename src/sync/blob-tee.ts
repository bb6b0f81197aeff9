// One upstream blob body, two readers: the client being served and the store being filled. The
// store gets every byte as it arrives (the upload session verifies the digest before the blob
// becomes visible); the client gets every byte but the last chunk until the whole body hashed
// to its digest, so a client is never handed a complete body that does not match: on a mismatch
// the client's branch is destroyed (its connection aborts), and the store's session, which got
// every byte, refuses the digest and discards its staged copy.
// Each branch keeps the pace of the slower one (backpressure), and a branch that goes away (the
// client disconnects, the store fails) stops holding the other back.
import { createHash } from 'node:crypto'
import { PassThrough, type Readable } from 'node:stream'
import type { Digest } from '../registry/index.js'

export interface TeeResult {
  /** the bytes for the client */
  client: Readable
  /** settles once the store holds the verified blob; rejects when it could not */
  stored: Promise<void>
}

const BRANCH_BUFFER = 1024 * 1024

export function teeBlob(
  upstream: Readable,
  digest: Digest,
  store: (body: Readable) => Promise<unknown>,
): TeeResult {
  const toStore = new PassThrough({ highWaterMark: BRANCH_BUFFER })
  const toClient = new PassThrough({ highWaterMark: BRANCH_BUFFER })
  let storeAlive = true
  let clientAlive = true
  let storeError: unknown
  toClient.once('close', () => (clientAlive = false))
  // A branch may fail before its consumer is attached (the store awaits a space check first):
  // the failure reaches the consumer through the branch's destroyed state, and `stored`.
  toStore.on('error', () => {})
  toClient.on('error', () => {})
  const storing = store(toStore).catch((err) => {
    storeAlive = false
    storeError = err
    toStore.destroy()
  })

  const pump = async () => {
    const hash = createHash(digest.algorithm)
    let held: Buffer | undefined
    try {
      for await (const chunk of upstream as AsyncIterable<Buffer>) {
        hash.update(chunk)
        const waits: Promise<void>[] = []
        if (storeAlive && !toStore.write(chunk)) waits.push(drained(toStore))
        if (held && clientAlive && !toClient.write(held)) waits.push(drained(toClient))
        held = chunk
        await Promise.all(waits)
        if (!storeAlive && !clientAlive) {
          upstream.destroy()
          return
        }
      }
      const actual = hash.digest('hex')
      if (actual !== digest.hex) {
        throw new Error(`upstream sent content with digest ${digest.algorithm}:${actual}`)
      }
      if (storeAlive) toStore.end()
      if (clientAlive) {
        if (held) toClient.write(held)
        toClient.end()
      }
    } catch (err) {
      // The store's session got every byte so far: ended, it finds the digest wrong (or the body
      // short) itself and discards the staged copy, through its usual path.
      if (storeAlive) toStore.end()
      toClient.destroy(err as Error)
      throw err
    }
  }

  const pumped = pump()
  const stored = Promise.all([pumped, storing]).then(() => {
    if (!storeAlive) throw storeError ?? new Error('the store stopped reading')
  })
  // Whoever awaits `stored` sees the failure; the branches already carry it.
  pumped.catch(() => {})
  return { client: toClient, stored }
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
