// Small file system calls on the event loop (src/storage/fs/inline-fs.ts): what a put writes and
// what a stat answers, when they step aside for the thread pool (a missing directory, a stream in
// flight, a slow call, a big object), and that the fs driver still reports a full disk and leaves
// no staging file when an inline put fails.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdir, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { FsDriver } from '../src/storage/fs/index.js'
import { INLINE_PUT_MAX_BYTES, InlineFs } from '../src/storage/fs/inline-fs.js'
import { StorageFullError } from '../src/storage/index.js'
import { listFiles, scratchDirs } from './helpers/harness.js'

const dir = scratchDirs()

describe('inline file system calls', () => {
  it('write the bytes and rename them into place, leaving no staging file', async () => {
    const root = await dir()
    await mkdir(join(root, 'tmp'))
    await mkdir(join(root, 'repo'))
    const puts = new InlineFs()
    assert.equal(puts.put(join(root, 'tmp/a'), join(root, 'repo/x'), Buffer.from('one')), true)
    assert.equal(puts.put(join(root, 'tmp/b'), join(root, 'repo/x'), Buffer.from('two')), true)
    assert.equal(await readFile(join(root, 'repo/x'), 'utf8'), 'two')
    assert.deepEqual(await readdir(join(root, 'tmp')), [])
  })

  it('step aside, leaving nothing behind, when a directory is missing', async () => {
    const root = await dir()
    await mkdir(join(root, 'tmp'))
    const puts = new InlineFs()
    const bytes = Buffer.from('x')
    assert.equal(puts.put(join(root, 'tmp/a'), join(root, 'absent/x'), bytes), false)
    assert.deepEqual(await readdir(join(root, 'tmp')), [], 'the staged file is removed')
    assert.equal(puts.put(join(root, 'no-tmp/a'), join(root, 'tmp/x'), bytes), false)
    assert.deepEqual(await listFiles(root), [])
  })

  it('stat: the metadata of a file, undefined when absent, ENOTDIR thrown', async () => {
    const root = await dir()
    await mkdir(join(root, 'repo'))
    const calls = new InlineFs()
    assert.equal(calls.put(join(root, 'tmp-x'), join(root, 'repo/x'), Buffer.from('four')), true)
    assert.equal(calls.stat(join(root, 'repo/x'))?.size, 4)
    assert.equal(calls.stat(join(root, 'repo/absent')), undefined)
    assert.throws(() => calls.stat(join(root, 'repo/x/below')), /ENOTDIR/)
  })

  it('are not allowed for big puts or while a stream is in flight', () => {
    const calls = new InlineFs()
    assert.equal(calls.mayPut(INLINE_PUT_MAX_BYTES), true)
    assert.equal(calls.mayPut(INLINE_PUT_MAX_BYTES + 1), false)
    const first = calls.streaming()
    const second = calls.streaming()
    assert.equal(calls.mayPut(10), false)
    assert.equal(calls.allowed(), false)
    first()
    first() // a second call of the same ending changes nothing
    assert.equal(calls.allowed(), false, 'one stream is still in flight')
    second()
    assert.equal(calls.mayPut(10), true)
    assert.equal(calls.allowed(), true)
  })

  it('go back to the pool for a while after a slow put or stat', async () => {
    const root = await dir()
    await mkdir(join(root, 'tmp'))
    let clock = 0
    let tick = 0
    const calls = new InlineFs({
      putSlowMs: 10,
      statSlowMs: 2,
      coolDownMs: 1000,
      now: () => (clock += tick),
    })
    tick = 1 // a call reads the clock twice: 1 ms apart is fast for either
    assert.equal(calls.put(join(root, 'tmp/a'), join(root, 'fast'), Buffer.from('a')), true)
    assert.ok(calls.stat(join(root, 'fast')))
    assert.equal(calls.allowed(), true)
    tick = 3 // 3 ms apart: fast for a put, slow for a stat
    assert.equal(calls.put(join(root, 'tmp/b'), join(root, 'put'), Buffer.from('b')), true)
    assert.equal(calls.allowed(), true)
    assert.ok(calls.stat(join(root, 'put')))
    tick = 0
    assert.equal(calls.allowed(), false, 'within the cool-down after a slow stat')
    clock += 1001
    assert.equal(calls.allowed(), true, 'after the cool-down')
    tick = 11 // 11 ms apart: slow for a put
    assert.equal(calls.put(join(root, 'tmp/c'), join(root, 'slow'), Buffer.from('c')), true)
    tick = 0
    assert.equal(calls.mayPut(1), false, 'within the cool-down after a slow put')
    clock += 999
    assert.equal(calls.allowed(), false)
    clock += 2
    assert.equal(calls.mayPut(1), true, 'after the cool-down')
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
