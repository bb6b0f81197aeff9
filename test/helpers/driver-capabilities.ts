// The optional capabilities of the storage contract (src/storage/driver.ts), for the conformance
// suite (driver-conformance.ts): each driver declares which it has. A declared capability is
// exercised here; an undeclared one must be absent, since callers choose their strategy by
// testing for it (`driver.link !== undefined`) and a stub would send them down a dead path.
import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { it } from 'node:test'
import { StorageNotFoundError, type StorageDriver } from '../../src/storage/index.js'
import type { Subject } from './driver-conformance.js'

export interface Capabilities {
  /** `write(…, { append: true })` extends an object in place */
  appends: boolean
  /** hard links: one identity for both keys, and a link count */
  link: boolean
  /** references that read as their target */
  refer: boolean
  /** copies inside the store */
  copy: boolean
  /** free and total bytes */
  space: boolean
  /** refuses writes up front, with this error; false for a driver that takes every write */
  checkWritable: false | (new (...args: never[]) => Error)
}

export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

const bytes = (s: string) => Readable.from([Buffer.from(s)])

function absent(d: StorageDriver, capability: keyof StorageDriver): void {
  assert.equal(d[capability], undefined, `${capability} is not offered, so it must be absent`)
}

export function capabilityCases(open: () => Promise<Subject>, caps: Capabilities): void {
  const has = (c: keyof Capabilities) => (caps[c] ? 'declared' : 'absent')

  it(`appends (${has('appends')})`, async () => {
    const { driver: d } = await open()
    if (!caps.appends) {
      assert.notEqual(d.appends, true)
      // Without the capability an append fails loudly and writes nothing.
      await assert.rejects(d.write('ap/obj', bytes('x'), { append: true }))
      assert.equal(await d.stat('ap/obj'), null)
      return
    }
    assert.equal(d.appends, true)
    assert.equal(await d.write('ap/obj', bytes('one '), { append: true }), 4)
    const before = await d.stat('ap/obj')
    assert.equal(await d.write('ap/obj', bytes('two'), { append: true }), 3)
    assert.equal((await d.get('ap/obj')).toString(), 'one two')
    // In place: the same object grew, so its identity holds.
    assert.equal((await d.stat('ap/obj'))?.identity, before?.identity)
    assert.equal((await d.stat('ap/obj'))?.size, 7)
  })

  it(`link (${has('link')}): one identity and a link count, bytes kept while a key names them`, async () => {
    const { driver: d } = await open()
    if (!caps.link) return absent(d, 'link')
    const link = d.link!.bind(d)
    await d.put('ln/a', Buffer.from('shared'))
    await link('ln/a', 'ln2/b')
    assert.equal((await d.get('ln2/b')).toString(), 'shared')
    const [a, b] = [await d.stat('ln/a'), await d.stat('ln2/b')]
    assert.equal(a?.identity, b?.identity)
    assert.deepEqual([a?.links, b?.links], [2, 2])
    // A link replaces its target, and linking again to the same content changes nothing.
    await d.put('ln/c', Buffer.from('other'))
    await link('ln/a', 'ln/c')
    await link('ln/a', 'ln/c')
    assert.equal((await d.get('ln/c')).toString(), 'shared')
    assert.equal((await d.stat('ln/a'))?.links, 3)
    // Replacing one name gives it new bytes; the others keep theirs.
    await d.put('ln/c', Buffer.from('replaced'))
    assert.equal((await d.get('ln2/b')).toString(), 'shared')
    await d.delete('ln/a')
    assert.equal((await d.get('ln2/b')).toString(), 'shared')
    assert.equal((await d.stat('ln2/b'))?.links, 1)
    await assert.rejects(link('ln/none', 'ln/x'), StorageNotFoundError)
    assert.equal(await d.stat('ln/x'), null)
  })

  it(`refer (${has('refer')}): reads as the target while it exists; a dangling one is absent`, async () => {
    const { driver: d } = await open()
    if (!caps.refer) return absent(d, 'refer')
    const refer = d.refer!.bind(d)
    await assert.rejects(refer('rf/missing', 'rf/x'), StorageNotFoundError)
    assert.equal(await d.stat('rf/x'), null)
    await d.put('rf/content', Buffer.from('0123456789'))
    await refer('rf/content', 'rf/one')
    await refer('rf/one', 'rf/two') // a reference to a reference resolves to the content
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
    // A reference follows its target's key: new bytes there are what it reads.
    await d.put('rf/content', Buffer.from('abcdefghij'))
    assert.equal((await d.get('rf/two')).toString(), 'abcdefghij')
    // Deleting a reference leaves the content; deleting the content leaves references absent.
    await d.delete('rf/one')
    assert.equal((await d.get('rf/content')).toString(), 'abcdefghij')
    await d.delete('rf/content')
    assert.equal(await d.stat('rf/two'), null)
    await assert.rejects(d.read('rf/two'), StorageNotFoundError)
    await assert.rejects(d.get('rf/two'), StorageNotFoundError)
  })

  it(`copy (${has('copy')}): writes the bytes as a plain object, resolving references`, async () => {
    const { driver: d } = await open()
    if (!caps.copy) return absent(d, 'copy')
    const copy = d.copy!.bind(d)
    await d.put('cp/content', Buffer.from('payload'))
    await copy('cp/content', 'cp/plain')
    assert.equal((await d.get('cp/plain')).toString(), 'payload')
    assert.notEqual((await d.stat('cp/plain'))?.identity, undefined)
    // A copy is independent: replacing the source leaves it.
    await d.put('cp/content', Buffer.from('changed'))
    assert.equal((await d.get('cp/plain')).toString(), 'payload')
    if (caps.refer) {
      await d.refer!('cp/content', 'cp/ref')
      await copy('cp/ref', 'cp/ref') // materialise a reference in place
      await d.delete('cp/content')
      assert.equal((await d.get('cp/ref')).toString(), 'changed')
      assert.equal((await d.stat('cp/ref'))?.target, undefined)
    }
    await assert.rejects(copy('cp/none', 'cp/x'), StorageNotFoundError)
    assert.equal(await d.stat('cp/x'), null)
  })

  it(`space (${has('space')}): free and total bytes, free within total`, async () => {
    const { driver: d } = await open()
    if (!caps.space) return absent(d, 'space')
    const { free, total } = await d.space!()
    assert.ok(Number.isFinite(free) && Number.isFinite(total), `free ${free}, total ${total}`)
    assert.ok(free >= 0 && free <= total && total > 0, `free ${free}, total ${total}`)
  })

  it(`checkWritable (${caps.checkWritable ? 'declared' : 'absent'})`, async () => {
    const { driver: d } = await open()
    const refusal = caps.checkWritable
    if (!refusal) return absent(d, 'checkWritable')
    assert.throws(() => d.checkWritable!('repo/blobs/sha256/abc'), refusal)
  })
}
