// The in-memory driver (src/storage/memory/): the shared conformance suite with every capability,
// then what only it has: a capacity that makes disk-full paths testable without a small disk,
// and its byte accounting (links counted once, nothing held after a failure).
import { openDriver } from '../src/storage/index.js'
import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { describe, it } from 'node:test'
import { StorageFullError } from '../src/storage/index.js'
import { MemoryDriver } from '../src/storage/memory/index.js'
import { ReadOnlyDriver } from '../src/storage/read-only/read-only-driver.js'
import { ReadOnlyStorageError } from '../src/storage/index.js'
import { driverConformance, readOnlyConformance } from './helpers/driver-conformance.js'
import { inMemoryRegistry, layoutFiles, makeImage, pushImage, sha256 } from './helpers/harness.js'

driverConformance('memory', async () => openDriver(new MemoryDriver()), {
  appends: true,
  link: true,
  refer: true,
  copy: true,
  space: true,
  checkWritable: false,
})

// The read-only view over memory too, so the fast tier has it without a disk.
readOnlyConformance(
  'read-only (over memory)',
  async () => {
    const seed = new MemoryDriver()
    return { driver: openDriver(new ReadOnlyDriver(seed, { source: 'memory' })), seed }
  },
  ReadOnlyStorageError,
)

const chunks = (n: number, size: number) =>
  Readable.from(Array.from({ length: n }, (_, i) => Buffer.alloc(size, i)))

describe('memory driver: capacity', () => {
  it('space reports the capacity less what is held; links and references take nothing more', async () => {
    const d = new MemoryDriver({ capacity: 1000 })
    assert.deepEqual(await d.space(), { free: 1000, total: 1000 })
    await d.put('a/one', Buffer.alloc(100))
    await d.write('a/two', chunks(2, 50))
    assert.deepEqual(await d.space(), { free: 800, total: 1000 })
    await d.link('a/one', 'b/one')
    await d.refer('a/two', 'b/two')
    assert.equal((await d.space()).free, 800)
    await d.copy('a/two', 'b/copy')
    assert.equal((await d.space()).free, 700)
    // Bytes are given back when the last name goes.
    await d.delete('a/one')
    assert.equal((await d.space()).free, 700)
    await d.delete('b/one')
    await d.put('a/two', Buffer.alloc(10)) // replaced: the old bytes go
    assert.equal((await d.space()).free, 890) // b/copy 100 + a/two 10
    await d.deletePrefix('b')
    assert.equal((await d.space()).free, 990)
  })

  it('a write past the capacity fails with StorageFullError, keeps nothing, and keeps what was stored', async () => {
    const d = new MemoryDriver({ capacity: 1000 })
    await d.put('r/keep', Buffer.from('precious'))
    await assert.rejects(d.write('r/big', chunks(20, 100)), StorageFullError)
    await assert.rejects(d.put('r/big', Buffer.alloc(2000)), StorageFullError)
    await d.put('r/half', Buffer.alloc(600))
    await assert.rejects(d.copy('r/half', 'r/copy'), StorageFullError)
    assert.equal(await d.stat('r/big'), null)
    assert.equal(await d.stat('r/copy'), null)
    assert.equal(d.usedBytes, 608)
    await d.delete('r/half')
    assert.equal((await d.get('r/keep')).toString(), 'precious')
    // Space is back once the failed write is gone: a write that fits succeeds.
    assert.equal(await d.write('r/fits', chunks(9, 100)), 900)
  })

  it('an append past the capacity fails with StorageFullError and keeps what arrived, as a file does', async () => {
    const d = new MemoryDriver({ capacity: 250 })
    await assert.rejects(d.write('up/data', chunks(3, 100), { append: true }), StorageFullError)
    assert.equal((await d.stat('up/data'))?.size, 200)
    assert.equal((await d.space()).free, 50)
    await d.delete('up/data')
    assert.equal((await d.space()).free, 250)
  })

  it('a write in flight holds its bytes, so two writes cannot both take the last space', async () => {
    const d = new MemoryDriver({ capacity: 300 })
    const gate = new Readable({ read() {} })
    const first = d.write('w/first', gate)
    gate.push(Buffer.alloc(200))
    await new Promise((r) => setImmediate(r))
    await assert.rejects(d.put('w/second', Buffer.alloc(200)), StorageFullError)
    gate.push(null)
    assert.equal(await first, 200)
  })
})

describe('memory driver: a key is an object or a prefix, never both (as on a filesystem)', () => {
  it('refuses an object where a prefix is, and a key under an object', async () => {
    const d = new MemoryDriver()
    await d.put('p/dir/file', Buffer.from('x'))
    await assert.rejects(d.put('p/dir', Buffer.from('y')), /is a prefix/)
    await assert.rejects(d.put('p/dir/file/below', Buffer.from('y')), /is an object/)
    await assert.rejects(d.move('p/dir/file', 'p/dir/file/x'), /is an object/)
    assert.equal((await d.get('p/dir/file')).toString(), 'x')
    assert.equal(d.usedBytes, 1)
    // Once the prefix is empty it is gone, and the name is free for an object.
    await d.delete('p/dir/file')
    await d.put('p/dir', Buffer.from('y'))
    assert.equal((await d.get('p/dir')).toString(), 'y')
  })

  it('get hands out a copy: changing it does not change what is stored', async () => {
    const d = new MemoryDriver()
    await d.put('c/obj', Buffer.from('abc'))
    const got = await d.get('c/obj')
    got[0] = 0x7a
    assert.equal((await d.get('c/obj')).toString(), 'abc')
  })
})

describe('memory driver under a registry', () => {
  it('serves a push and pull with dedupe by link, and leaves only engine state on the disk', async () => {
    const driver = new MemoryDriver()
    const reg = await inMemoryRegistry({ driver })
    try {
      const image = makeImage('memory', 2)
      assert.equal((await pushImage(reg.request, 'a/app', image, 'v1')).status, 201)
      assert.equal((await pushImage(reg.request, 'b/app', image, 'v1')).status, 201)
      const pulled = await reg.request(`/v2/b/app/blobs/${sha256(image.layers[1])}`)
      assert.equal(pulled.status, 200)
      assert.deepEqual(Buffer.from(await pulled.arrayBuffer()), image.layers[1])
      // The second repository's layer is the first one's bytes, linked (dedupe), not a copy.
      const key = (repo: string) => `${repo}/blobs/sha256/${sha256(image.layers[0]).slice(7)}`
      const [a, b] = [await driver.stat(key('a/app')), await driver.stat(key('b/app'))]
      assert.equal(a?.identity, b?.identity)
      assert.equal(b?.links, 2)
      assert.deepEqual(
        (await layoutFiles(reg.root)).filter((f) => !f.startsWith('_outpost/')),
        [],
        'no layout file on the disk',
      )
    } finally {
      await reg.close()
    }
  })
})
