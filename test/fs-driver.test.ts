// The local filesystem driver: the shared conformance suite with commit on and off (through
// openDriver, as every driver is opened), the fsync discipline commit implies, and a full disk.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { after, describe, it } from 'node:test'
import { FsDriver, fsyncCount } from '../src/storage/fs/index.js'
import { openDriver, StorageFullError } from '../src/storage/index.js'
import { driverConformance } from './helpers/driver-conformance.js'
import { listFiles, scratchDirs } from './helpers/harness.js'

const dir = scratchDirs()
/** Hard links, appends and statfs; references and server-side copies are S3's. */
const FS_CAPABILITIES = {
  appends: true,
  link: true,
  refer: false,
  copy: false,
  space: true,
  checkWritable: false,
} as const

for (const commit of [false, true]) {
  driverConformance(
    `fs (commit=${commit})`,
    async () => {
      const root = await dir()
      return openDriver(new FsDriver({ root, commit }))
    },
    FS_CAPABILITIES,
  )
}

describe('fs driver durability discipline', () => {
  it('commit=false makes no fsync call; commit=true syncs file and directories', async () => {
    const root = await dir()
    const lazy = new FsDriver({ root: join(root, 'lazy'), commit: false })
    let before = fsyncCount()
    await lazy.put('r/index.json', Buffer.from('{}'))
    await lazy.write('r/blob', Readable.from([Buffer.from('data')]))
    await lazy.move('r/blob', 'r/blobs/sha256/x')
    assert.equal(fsyncCount() - before, 0)

    const durable = new FsDriver({ root: join(root, 'durable'), commit: true })
    before = fsyncCount()
    await durable.put('r/index.json', Buffer.from('{}'))
    // file + target dir + staging dir, plus the parents of each directory it created
    assert.ok(
      fsyncCount() - before >= 3,
      `expected at least 3 fsyncs, saw ${fsyncCount() - before}`,
    )
  })

  it('staging never lives beside the target: only the published file appears there', async () => {
    const root = await dir()
    const d = new FsDriver({ root, commit: true })
    await d.write('repo/blobs/sha256/abc', Readable.from([Buffer.from('x')]))
    const files = await listFiles(join(root, 'repo'))
    assert.deepEqual(files, ['blobs/sha256/abc'])
  })
})

const isRoot = process.getuid?.() === 0
describe('fs driver on a full disk', () => {
  const skip = isRoot ? false : 'needs root to mount a small tmpfs'
  let mnt = ''
  after(() => {
    if (mnt) execFileSync('umount', ['-l', mnt])
  })

  it(
    'reports StorageFullError, leaves no partial object and keeps what was stored',
    { skip },
    async () => {
      const base = await dir()
      mnt = join(base, 'mnt')
      await mkdir(mnt)
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt])
      const d = new FsDriver({ root: mnt, commit: true })
      await d.put('r/keep', Buffer.from('precious'))
      const big = Readable.from(
        (function* () {
          for (let i = 0; i < 64; i++) yield Buffer.alloc(64 * 1024, i)
        })(),
      )
      await assert.rejects(d.write('r/big', big), StorageFullError)
      assert.equal(await d.stat('r/big'), null)
      assert.deepEqual(await listFiles(mnt), ['r/keep'])
      assert.equal((await d.get('r/keep')).toString(), 'precious')
      // Space is back once the failed write is gone: a small write succeeds.
      await d.put('r/small', Buffer.from('ok'))
      assert.equal((await d.get('r/small')).toString(), 'ok')
    },
  )
})
