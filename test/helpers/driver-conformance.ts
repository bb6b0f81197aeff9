// The storage-driver conformance suite (docs/architecture.md §3): the same cases run against every
// driver (fs, s3, read-only, memory), so a backend is only as good as the contract it proves.
// Each driver declares the capabilities it has; a declared one is exercised, an undeclared one
// is asserted absent (callers test `driver.link !== undefined`), so nothing is skipped quietly.
// A read-only driver gets the read cases over content seeded through the driver it wraps, and
// every write refused.
import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { describe, it } from 'node:test'
import {
  StorageKeyError,
  StorageNotFoundError,
  type StorageDriver,
} from '../../src/storage/index.js'
import { capabilityCases, collect, type Capabilities } from './driver-capabilities.js'

export type { Capabilities }

async function* slowly(parts: string[], failAfter?: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < parts.length; i++) {
    if (failAfter !== undefined && i === failAfter) throw new Error('source failed')
    yield Buffer.from(parts[i])
    await new Promise((r) => setImmediate(r))
  }
}

/** Keys that could leave the root, in every spelling the suite knows. */
const BAD_KEYS = ['../x', 'a/../../x', '/abs', 'a//b', '', 'a/./b', 'a\\b', 'a\0b']

/** What a case works on: the driver, and the one that writes its fixtures (itself if it can). */
export interface Subject {
  driver: StorageDriver
  seed: StorageDriver
}

/** A writable driver: every case, and its declared capabilities. */
export function driverConformance(
  name: string,
  makeDriver: () => Promise<StorageDriver>,
  capabilities: Capabilities,
): void {
  const open = async (): Promise<Subject> => {
    const driver = await makeDriver()
    return { driver, seed: driver }
  }
  describe(`storage driver conformance: ${name}`, () => {
    readCases(open)
    writeCases(makeDriver)
    capabilityCases(open, capabilities)
  })
}

/**
 * A driver that refuses writes (read-only hosting): the read cases over content `seed` wrote,
 * each write refused with `refusal` and nothing changed underneath.
 */
export function readOnlyConformance(
  name: string,
  open: () => Promise<Subject>,
  refusal: new (...args: never[]) => Error,
): void {
  describe(`storage driver conformance: ${name}`, () => {
    // Known gap, left for the shared wrapper that checks every key for every driver (issue 16):
    // the read-only driver takes '' for its mount's root and answers "not found".
    readCases(open)
    capabilityCases(open, {
      appends: false,
      link: false,
      refer: false,
      copy: false,
      space: false,
      checkWritable: refusal,
    })
    it('refuses every write before the driver underneath is touched', async () => {
      const { driver, seed } = await open()
      await seed.put('ro/obj', Buffer.from('kept'))
      await seed.put('ro/dir/inner', Buffer.from('also kept'))
      const source = () => Readable.from([Buffer.from('x')])
      const writes: Array<[string, () => Promise<unknown>]> = [
        ['put', () => driver.put('ro/obj', Buffer.from('new'))],
        ['put (new key)', () => driver.put('ro/new', Buffer.from('new'))],
        ['write', () => driver.write('ro/obj', source())],
        ['write (append)', () => driver.write('ro/obj', source(), { append: true })],
        ['move', () => driver.move('ro/obj', 'ro/moved')],
        ['delete', () => driver.delete('ro/obj')],
        ['deletePrefix', () => driver.deletePrefix('ro/dir')],
        ['prune', () => driver.prune('ro/dir')],
      ]
      for (const [what, write] of writes) await assert.rejects(write(), refusal, what)
      assert.equal((await seed.get('ro/obj')).toString(), 'kept')
      assert.equal((await seed.get('ro/dir/inner')).toString(), 'also kept')
      assert.equal(await seed.stat('ro/new'), null)
      assert.equal(await seed.stat('ro/moved'), null)
    })
  })
}

/** Cases that only read; their fixtures are written through `seed`. */
function readCases(open: () => Promise<Subject>): void {
  it('get returns the stored bytes; stat gives size, mtime and an identity', async () => {
    const { driver, seed } = await open()
    await seed.put('a/b/c.json', Buffer.from('one'))
    await seed.put('s/obj', Buffer.alloc(1234, 7))
    assert.equal((await driver.get('a/b/c.json')).toString(), 'one')
    const info = await driver.stat('s/obj')
    assert.equal(info?.size, 1234)
    assert.equal(typeof info?.mtimeMs, 'number')
    assert.ok(Number.isFinite(info?.mtimeMs) && info!.mtimeMs > 0, `mtimeMs ${info?.mtimeMs}`)
    assert.equal(typeof info?.identity, 'string')
    assert.notEqual(info?.identity, (await driver.stat('a/b/c.json'))?.identity)
  })

  it('reports absence: stat null, get and read throw StorageNotFoundError before any byte', async () => {
    const { driver, seed } = await open()
    await seed.put('present/obj', Buffer.from('x'))
    for (const key of ['nope/x', 'present/missing', 'present/obj/below']) {
      assert.equal(await driver.stat(key), null, key)
    }
    for (const key of ['nope/x', 'present/missing']) {
      await assert.rejects(driver.get(key), StorageNotFoundError, key)
      await assert.rejects(driver.read(key), StorageNotFoundError, key)
      await assert.rejects(driver.read(key, { range: { start: 0, end: 0 } }), StorageNotFoundError)
    }
    // The error names the key that was asked for.
    await assert.rejects(driver.get('nope/x'), (err: StorageNotFoundError) => err.key === 'nope/x')
  })

  it('read streams whole objects and inclusive byte ranges', async () => {
    const { driver, seed } = await open()
    await seed.put('r/obj', Buffer.from('0123456789'))
    const ranged = async (start: number, end: number) =>
      (await collect(await driver.read('r/obj', { range: { start, end } }))).toString()
    assert.equal((await collect(await driver.read('r/obj'))).toString(), '0123456789')
    assert.equal(await ranged(2, 5), '2345')
    assert.equal(await ranged(0, 0), '0')
    assert.equal(await ranged(9, 9), '9')
    assert.equal(await ranged(4, 9), '456789')
  })

  it('a large read streams in pieces and stops with an AbortError when its signal fires', async () => {
    const { driver, seed } = await open()
    const size = 4 * 1024 * 1024
    await seed.put('big/obj', Buffer.alloc(size, 1))
    const whole = await collect(await driver.read('big/obj'))
    assert.equal(whole.length, size)
    const controller = new AbortController()
    const stream = await driver.read('big/obj', { signal: controller.signal })
    let got = 0
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) {
          got += (chunk as Buffer).length
          controller.abort()
        }
      })(),
      { name: 'AbortError' },
    )
    assert.ok(got < size, `read ${got} of ${size} bytes after the abort`)
  })

  it('list gives direct children in lexical order, prefixes marked; a missing prefix lists nothing', async () => {
    const { driver, seed } = await open()
    for (const k of ['l/b', 'l/a', 'l/c/deep', 'l/A', 'l/c/d/deeper']) {
      await seed.put(k, Buffer.from('x'))
    }
    const list = async (prefix: string) => {
      const entries = []
      for await (const e of driver.list(prefix)) entries.push(e)
      return entries
    }
    assert.deepEqual(await list('l'), [
      { name: 'A', isPrefix: false },
      { name: 'a', isPrefix: false },
      { name: 'b', isPrefix: false },
      { name: 'c', isPrefix: true },
    ])
    assert.deepEqual(await list('l/c'), [
      { name: 'd', isPrefix: true },
      { name: 'deep', isPrefix: false },
    ])
    // The root lists with the empty prefix (engine state under _outpost/ aside).
    const top = (await list('')).filter((e) => !e.name.startsWith('_'))
    assert.deepEqual(top, [{ name: 'l', isPrefix: true }])
    assert.deepEqual(await list('missing'), [])
    assert.deepEqual(await list('l/a'), [], 'an object has no children')
  })

  it('rejects keys that could leave the root', async () => {
    const { driver } = await open()
    for (const key of BAD_KEYS.filter((k) => k !== '')) {
      await assert.rejects(driver.get(key), StorageKeyError, key)
      await assert.rejects(driver.read(key), StorageKeyError, key)
      await assert.rejects(driver.stat(key), StorageKeyError, key)
    }
  })

  it('rejects the empty key for reads', async () => {
    const { driver } = await open()
    await assert.rejects(driver.get(''), StorageKeyError)
    await assert.rejects(driver.read(''), StorageKeyError)
  })
}

/** Cases that write through the driver itself. */
function writeCases(makeDriver: () => Promise<StorageDriver>): void {
  it('put replaces, and the identity changes with the bytes', async () => {
    const d = await makeDriver()
    await d.put('a/b/c.json', Buffer.from('one'))
    const first = await d.stat('a/b/c.json')
    await d.put('a/b/c.json', Buffer.from('two'))
    assert.equal((await d.get('a/b/c.json')).toString(), 'two')
    assert.notEqual((await d.stat('a/b/c.json'))?.identity, first?.identity)
  })

  it('write publishes the object only when it resolves, with its byte count', async () => {
    const d = await makeDriver()
    const n = await d.write('w/obj', Readable.from(slowly(['ab', 'cd', 'ef'])))
    assert.equal(n, 6)
    assert.equal((await d.get('w/obj')).toString(), 'abcdef')
    assert.equal(await d.write('w/empty', Readable.from([])), 0)
    assert.equal((await d.stat('w/empty'))?.size, 0)
  })

  it('a failed write leaves nothing at the key, and an existing object untouched', async () => {
    const d = await makeDriver()
    await assert.rejects(d.write('f/new', Readable.from(slowly(['ab', 'cd'], 1))))
    assert.equal(await d.stat('f/new'), null)
    await d.put('f/old', Buffer.from('keep'))
    await assert.rejects(d.write('f/old', Readable.from(slowly(['xx', 'yy'], 1))))
    assert.equal((await d.get('f/old')).toString(), 'keep')
  })

  it('an aborted write leaves nothing', async () => {
    const d = await makeDriver()
    const controller = new AbortController()
    const source = new Readable({ read() {} })
    source.push(Buffer.from('partial'))
    const pending = d.write('ab/obj', source, { signal: controller.signal })
    setTimeout(() => controller.abort(), 20)
    await assert.rejects(pending)
    assert.equal(await d.stat('ab/obj'), null)
  })

  it('move renames and replaces the target; moving a missing key is not-found', async () => {
    const d = await makeDriver()
    await d.put('m/from', Buffer.from('new'))
    await d.put('m2/to', Buffer.from('old'))
    await d.move('m/from', 'm2/to')
    assert.equal(await d.stat('m/from'), null)
    assert.equal((await d.get('m2/to')).toString(), 'new')
    await assert.rejects(d.move('m/from', 'm3/x'), StorageNotFoundError)
    assert.equal(await d.stat('m3/x'), null)
  })

  it('delete is idempotent, also of a key that never existed', async () => {
    const d = await makeDriver()
    await d.put('del/obj', Buffer.from('x'))
    await d.delete('del/obj')
    await d.delete('del/obj')
    await d.delete('never/was')
    assert.equal(await d.stat('del/obj'), null)
  })

  it('deletePrefix removes everything below (and an object of that name); prune drops only empty prefixes', async () => {
    const d = await makeDriver()
    await d.put('dp/x/1', Buffer.from('1'))
    await d.put('dp/x/y/2', Buffer.from('2'))
    await d.put('dp/keep', Buffer.from('k'))
    await d.put('dq/file', Buffer.from('f'))
    await d.deletePrefix('dp/x')
    await d.deletePrefix('dq/file')
    await d.deletePrefix('dp/never')
    assert.equal(await d.stat('dp/x/1'), null)
    assert.equal(await d.stat('dp/x/y/2'), null)
    assert.equal(await d.stat('dq/file'), null)
    await d.put('pr/a/b/c', Buffer.from('c'))
    await d.put('pr/keep', Buffer.from('k'))
    await d.delete('pr/a/b/c')
    await d.prune('pr/a/b')
    await d.prune('pr/never/was')
    await d.prune('dp')
    const entries = []
    for await (const e of d.list('pr')) entries.push(e)
    assert.deepEqual(entries, [{ name: 'keep', isPrefix: false }])
    assert.equal((await d.get('dp/keep')).toString(), 'k')
    assert.equal((await d.get('pr/keep')).toString(), 'k')
  })

  it('rejects keys that could leave the root, for writes too', async () => {
    const d = await makeDriver()
    for (const key of BAD_KEYS) {
      await assert.rejects(d.put(key, Buffer.from('x')), StorageKeyError, key)
      await assert.rejects(d.write(key, Readable.from([Buffer.from('x')])), StorageKeyError, key)
      await assert.rejects(d.delete(key), StorageKeyError, key)
      await assert.rejects(d.deletePrefix(key), StorageKeyError, key)
    }
  })
}
