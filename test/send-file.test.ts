// sendFile (src/http/send-file.ts) over a real socket: reads grow from 256 KiB to 4 MiB and a
// short read is confirmed in the same buffer, so every size around those steps, whole or as a
// range, must arrive byte for byte. Seeded bytes (seed printed) make a failure repeatable.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { open, writeFile } from 'node:fs/promises'
import { createServer, get } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { sendFile } from '../src/http/send-file.js'
import { scratchDirs } from './helpers/harness.js'

const dir = scratchDirs()
const KIB = 1024
const SEED = 17
console.log(`send-file test seed ${SEED}`)

/** Deterministic bytes: a SHA-256 counter stream from the seed. */
function seeded(size: number): Buffer {
  const out = Buffer.allocUnsafe(size)
  for (let i = 0, block = 0; i < size; block++) {
    i += createHash('sha256').update(`${SEED}:${block}`).digest().copy(out, i)
  }
  return out
}

const file = join(await dir(), 'blob')
const bytes = seeded(12 * 1024 * KIB + 7)
await writeFile(file, bytes)
const handle = await open(file)
after(() => handle.close())

/** A server that sends [start, end] of the file; `end` Infinity means "to the end". */
async function served(start: number, end: number, source = handle): Promise<Buffer> {
  const server = createServer((_, res) => {
    res.writeHead(200)
    sendFile({ handle: source, start, end }, res, () => {}).catch(() => {})
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  try {
    const { port } = server.address() as AddressInfo
    return await new Promise<Buffer>((resolve, reject) => {
      get(`http://127.0.0.1:${port}/`, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve(Buffer.concat(chunks)))
        res.on('error', reject)
      }).on('error', reject)
    })
  } finally {
    server.close()
  }
}

describe('sendFile', () => {
  const steps = [1, 256 * KIB, 1280 * KIB, 5376 * KIB, 9472 * KIB]
  const sizes = steps.flatMap((s) => [s - 1, s, s + 1]).filter((s) => s > 0)

  it('sends ranges of every size around the read steps', async () => {
    for (const size of sizes) {
      const start = 3
      const got = await served(start, start + size - 1)
      assert.equal(got.length, size, `range of ${size} bytes`)
      assert.ok(got.equals(bytes.subarray(start, start + size)), `range of ${size} bytes differs`)
    }
  })

  it('sends the file to its end when the range is open', async () => {
    for (const start of [0, bytes.length - 5, bytes.length - 256 * KIB - 1]) {
      const got = await served(start, Infinity)
      assert.ok(got.equals(bytes.subarray(start)), `from ${start} to the end differs`)
    }
  })

  it('stops at the end of the file when the range runs past it', async () => {
    const got = await served(bytes.length - 100, bytes.length + 10 * 1024 * KIB)
    assert.ok(got.equals(bytes.subarray(bytes.length - 100)))
  })

  it('reads a large file in few reads (each a hand-off to the thread pool)', async () => {
    let reads = 0
    const counting = new Proxy(handle, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target) as unknown
        if (prop !== 'read' || typeof value !== 'function') return value
        return (...args: unknown[]) => {
          reads++
          return (value as (...a: unknown[]) => unknown).apply(target, args)
        }
      },
    })
    const got = await served(0, Infinity, counting)
    assert.ok(got.equals(bytes))
    // 256 KiB, 1 MiB, then 4 MiB reads: 5 cover 12 MiB, and one more finds the end.
    assert.ok(reads <= 6, `${reads} reads for 12 MiB`)
  })
})
