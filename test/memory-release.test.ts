// Where Outpost asks V8 to collect (with --expose-gc, as the unit runs it): every few MiB of
// streamed bytes, the young generation (dead network buffers). Here `globalThis.gc` is a
// counting stand-in for V8's.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { hashStream } from '../src/registry/hashing.js'
import { newHash } from '../src/registry/digest.js'
import { streamedBytes, YOUNG_GC_EVERY_BYTES } from '../src/util/v8-young-gc.js'
import { Readable } from 'node:stream'

type Call = { type?: string } | undefined
const calls: Call[] = []
const realGc = (globalThis as { gc?: unknown }).gc

before(() => {
  ;(globalThis as { gc?: unknown }).gc = (options?: { type?: string }) => void calls.push(options)
})
after(() => {
  ;(globalThis as { gc?: unknown }).gc = realGc
})

describe('young-generation collections while streaming', () => {
  it('collects once per YOUNG_GC_EVERY_BYTES of hashed stream, minor only', async () => {
    streamedBytes(YOUNG_GC_EVERY_BYTES) // start from a clean count
    calls.length = 0
    const chunk = Buffer.alloc(64 * 1024, 7)
    const chunks = (10 * YOUNG_GC_EVERY_BYTES) / chunk.length
    const tap = hashStream(Readable.from(Array.from({ length: chunks }, () => chunk)), [
      newHash('sha256'),
    ])
    for await (const _ of tap) {
      // consume
    }
    assert.equal(tap.bytes, 10 * YOUNG_GC_EVERY_BYTES)
    assert.equal(calls.length, 10)
    assert.ok(calls.every((c) => c?.type === 'minor'))
  })
})
