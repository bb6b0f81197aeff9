// The storage-driver conformance suite (docs/architecture.md §3): the same cases run against every driver,
// so a backend is only as good as the contract it proves.
import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { describe, it } from 'node:test'
import {
  StorageKeyError,
  StorageNotFoundError,
  type StorageDriver,
} from '../../src/storage/index.js'

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

async function* slowly(parts: string[], failAfter?: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < parts.length; i++) {
    if (failAfter !== undefined && i === failAfter) throw new Error('source failed')
    yield Buffer.from(parts[i])
    await new Promise((r) => setImmediate(r))
  }
}

export function driverConformance(name: string, makeDriver: () => Promise<StorageDriver>): void {
  describe(`storage driver conformance: ${name}`, () => {
    it('put then get returns the same bytes; put replaces', async () => {
      const d = await makeDriver()
      await d.put('a/b/c.json', Buffer.from('one'))
      assert.equal((await d.get('a/b/c.json')).toString(), 'one')
      await d.put('a/b/c.json', Buffer.from('two'))
      assert.equal((await d.get('a/b/c.json')).toString(), 'two')
    })

    it('reports absence: stat null, get and read throw StorageNotFoundError before any byte', async () => {
      const d = await makeDriver()
      assert.equal(await d.stat('nope/x'), null)
      await assert.rejects(d.get('nope/x'), StorageNotFoundError)
      await assert.rejects(d.read('nope/x'), StorageNotFoundError)
    })

    it('stat gives the size', async () => {
      const d = await makeDriver()
      await d.put('s/obj', Buffer.alloc(1234, 7))
      assert.equal((await d.stat('s/obj'))?.size, 1234)
    })

    it('read streams whole objects and inclusive byte ranges', async () => {
      const d = await makeDriver()
      await d.put('r/obj', Buffer.from('0123456789'))
      assert.equal((await collect(await d.read('r/obj'))).toString(), '0123456789')
      assert.equal(
        (await collect(await d.read('r/obj', { range: { start: 2, end: 5 } }))).toString(),
        '2345',
      )
      assert.equal(
        (await collect(await d.read('r/obj', { range: { start: 9, end: 9 } }))).toString(),
        '9',
      )
    })

    it('write publishes the object only when it resolves, with its byte count', async () => {
      const d = await makeDriver()
      const n = await d.write('w/obj', Readable.from(slowly(['ab', 'cd', 'ef'])))
      assert.equal(n, 6)
      assert.equal((await d.get('w/obj')).toString(), 'abcdef')
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

    it('append writes extend an object in place, where the driver declares it can', async () => {
      const d = await makeDriver()
      if (!d.appends) {
        // Without the capability an append must fail loudly, never write something else.
        await assert.rejects(d.write('ap/obj', Readable.from([Buffer.from('x')]), { append: true }))
        assert.equal(await d.stat('ap/obj'), null)
        return
      }
      await d.write('ap/obj', Readable.from([Buffer.from('one ')]), { append: true })
      await d.write('ap/obj', Readable.from([Buffer.from('two')]), { append: true })
      assert.equal((await d.get('ap/obj')).toString(), 'one two')
    })

    it('list gives direct children in lexical order, prefixes marked', async () => {
      const d = await makeDriver()
      for (const k of ['l/b', 'l/a', 'l/c/deep', 'l/A']) await d.put(k, Buffer.from('x'))
      const entries = []
      for await (const e of d.list('l')) entries.push(e)
      assert.deepEqual(entries, [
        { name: 'A', isPrefix: false },
        { name: 'a', isPrefix: false },
        { name: 'b', isPrefix: false },
        { name: 'c', isPrefix: true },
      ])
      const none = []
      for await (const e of d.list('missing')) none.push(e)
      assert.deepEqual(none, [])
    })

    it('move renames and replaces the target; delete is idempotent', async () => {
      const d = await makeDriver()
      await d.put('m/from', Buffer.from('new'))
      await d.put('m2/to', Buffer.from('old'))
      await d.move('m/from', 'm2/to')
      assert.equal(await d.stat('m/from'), null)
      assert.equal((await d.get('m2/to')).toString(), 'new')
      await d.delete('m2/to')
      await d.delete('m2/to')
      assert.equal(await d.stat('m2/to'), null)
    })

    it('deletePrefix removes everything below; prune drops only empty prefixes', async () => {
      const d = await makeDriver()
      await d.put('dp/x/1', Buffer.from('1'))
      await d.put('dp/x/2', Buffer.from('2'))
      await d.put('dp/keep', Buffer.from('k'))
      await d.deletePrefix('dp/x')
      assert.equal(await d.stat('dp/x/1'), null)
      await d.prune('dp')
      assert.equal((await d.get('dp/keep')).toString(), 'k')
    })

    it('link, when offered, shares the bytes (a driver without it has no link at all)', async () => {
      const d = await makeDriver()
      if (!d.link) {
        // A capability is declared by presence: nothing half-implemented hides behind a stub.
        assert.equal('link' in d, false)
        return
      }
      await d.put('ln/a', Buffer.from('shared'))
      await d.link('ln/a', 'ln2/b')
      assert.equal((await d.get('ln2/b')).toString(), 'shared')
    })

    it('refer, when offered, reads as the target while it exists; a dangling one is absent', async () => {
      const d = await makeDriver()
      if (!d.refer) {
        assert.equal('refer' in d, false)
        return
      }
      await assert.rejects(d.refer('rf/missing', 'rf/x'), StorageNotFoundError)
      await d.put('rf/content', Buffer.from('0123456789'))
      await d.refer('rf/content', 'rf/one')
      await d.refer('rf/one', 'rf/two') // a reference to a reference resolves to the content
      for (const key of ['rf/one', 'rf/two']) {
        assert.equal((await d.get(key)).toString(), '0123456789')
        assert.equal(
          (await collect(await d.read(key, { range: { start: 2, end: 4 } }))).toString(),
          '234',
        )
        const info = await d.stat(key)
        assert.equal(info?.size, 10)
        assert.equal(info?.target, 'rf/content')
        assert.equal(info?.identity, (await d.stat('rf/content'))?.identity)
      }
      assert.equal((await d.stat('rf/content'))?.target, undefined)
      // Deleting a reference leaves the content; deleting the content leaves references absent.
      await d.delete('rf/one')
      assert.equal((await d.get('rf/content')).toString(), '0123456789')
      await d.delete('rf/content')
      assert.equal(await d.stat('rf/two'), null)
      await assert.rejects(d.read('rf/two'), StorageNotFoundError)
      await assert.rejects(d.get('rf/two'), StorageNotFoundError)
    })

    it('copy, when offered, writes the bytes as a plain object, resolving references', async () => {
      const d = await makeDriver()
      if (!d.copy) {
        assert.equal('copy' in d, false)
        return
      }
      await d.put('cp/content', Buffer.from('payload'))
      await d.copy('cp/content', 'cp/plain')
      assert.equal((await d.get('cp/plain')).toString(), 'payload')
      if (d.refer) {
        await d.refer('cp/content', 'cp/ref')
        await d.copy('cp/ref', 'cp/ref') // materialise a reference in place
        await d.delete('cp/content')
        assert.equal((await d.get('cp/ref')).toString(), 'payload')
        assert.equal((await d.stat('cp/ref'))?.target, undefined)
      }
      await assert.rejects(d.copy('cp/none', 'cp/x'), StorageNotFoundError)
    })

    it('rejects keys that could leave the root', async () => {
      const d = await makeDriver()
      for (const key of ['../x', 'a/../../x', '/abs', 'a//b', '', 'a/./b', 'a\\b', 'a\0b']) {
        await assert.rejects(d.put(key, Buffer.from('x')), StorageKeyError, key)
        await assert.rejects(d.get(key), StorageKeyError, key)
      }
    })
  })
}
