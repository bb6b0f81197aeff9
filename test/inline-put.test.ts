// Small puts on the event loop (src/storage/fs/inline-put.ts): what they write, when they step
// aside for the thread pool (a missing directory, a stream in flight, a slow put, a big object),
// and that the fs driver still reports a full disk and leaves no staging file when they fail.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdir, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { FsDriver } from '../src/storage/fs/index.js'
import { INLINE_PUT_MAX_BYTES, InlinePuts } from '../src/storage/fs/inline-put.js'
import { StorageFullError } from '../src/storage/index.js'
import { listFiles, scratchDirs } from './helpers/harness.js'

const dir = scratchDirs()

describe('inline puts', () => {
  it('write the bytes and rename them into place, leaving no staging file', async () => {
    const root = await dir()
    await mkdir(join(root, 'tmp'))
    await mkdir(join(root, 'repo'))
    const puts = new InlinePuts()
    assert.equal(puts.put(join(root, 'tmp/a'), join(root, 'repo/x'), Buffer.from('one')), true)
    assert.equal(puts.put(join(root, 'tmp/b'), join(root, 'repo/x'), Buffer.from('two')), true)
    assert.equal(await readFile(join(root, 'repo/x'), 'utf8'), 'two')
    assert.deepEqual(await readdir(join(root, 'tmp')), [])
  })

  it('step aside, leaving nothing behind, when a directory is missing', async () => {
    const root = await dir()
    await mkdir(join(root, 'tmp'))
    const puts = new InlinePuts()
    const bytes = Buffer.from('x')
    assert.equal(puts.put(join(root, 'tmp/a'), join(root, 'absent/x'), bytes), false)
    assert.deepEqual(await readdir(join(root, 'tmp')), [], 'the staged file is removed')
    assert.equal(puts.put(join(root, 'no-tmp/a'), join(root, 'tmp/x'), bytes), false)
    assert.deepEqual(await listFiles(root), [])
  })

  it('are not allowed for big objects or while a stream is in flight', () => {
    const puts = new InlinePuts()
    assert.equal(puts.allows(INLINE_PUT_MAX_BYTES), true)
    assert.equal(puts.allows(INLINE_PUT_MAX_BYTES + 1), false)
    const first = puts.streaming()
    const second = puts.streaming()
    assert.equal(puts.allows(10), false)
    first()
    first() // a second call of the same ending changes nothing
    assert.equal(puts.allows(10), false, 'one stream is still in flight')
    second()
    assert.equal(puts.allows(10), true)
  })

  it('send puts back to the pool for a while after a slow one', async () => {
    const root = await dir()
    await mkdir(join(root, 'tmp'))
    let clock = 0
    let tick = 0
    const puts = new InlinePuts({ slowMs: 10, coolDownMs: 1000, now: () => (clock += tick) })
    tick = 1 // a put reads the clock twice: 1 ms apart is fast
    assert.equal(puts.put(join(root, 'tmp/a'), join(root, 'fast'), Buffer.from('a')), true)
    assert.equal(puts.allows(1), true)
    tick = 11 // 11 ms apart: slow
    assert.equal(puts.put(join(root, 'tmp/b'), join(root, 'slow'), Buffer.from('b')), true)
    tick = 0
    assert.equal(puts.allows(1), false, 'within the cool-down')
    clock += 999
    assert.equal(puts.allows(1), false)
    clock += 2
    assert.equal(puts.allows(1), true, 'after the cool-down')
  })
})

const isRoot = process.getuid?.() === 0
describe('fs driver with commit off on a full disk', () => {
  const skip = isRoot ? false : 'needs root to mount a small tmpfs'
  let mnt = ''
  after(() => {
    if (mnt) execFileSync('umount', ['-l', mnt])
  })

  it('reports StorageFullError from a small put and leaves no staging file', { skip }, async () => {
    mnt = join(await dir(), 'mnt')
    await mkdir(mnt)
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt])
    const d = new FsDriver({ root: mnt, commit: false })
    const piece = Buffer.alloc(60 * 1024, 7)
    let stored = 0
    for (; stored < 64; stored++) {
      try {
        await d.put(`r/${stored}`, piece)
      } catch (err) {
        assert.ok(err instanceof StorageFullError, `expected StorageFullError, got ${err}`)
        break
      }
    }
    assert.ok(stored > 0 && stored < 64, `the 1 MiB disk filled after ${stored} puts`)
    const files = await listFiles(mnt)
    assert.deepEqual(files.sort(), Array.from({ length: stored }, (_, n) => `r/${n}`).sort())
    assert.deepEqual(await d.get(`r/${stored - 1}`), piece)
  })
})
