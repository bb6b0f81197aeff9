// One owner per storage root: the lock is taken exclusively, stale locks (dead process, reused
// pid, previous boot, half-written file) are taken over, and a live one is respected.
import assert from 'node:assert/strict'
import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { FsDriver } from '../src/storage/fs/index.js'
import { ownStorage, StorageBusyError, type OwnedStorage } from '../src/server/storage-owner.js'
import { childServer, scratchDirs, type ChildServer } from './helpers/harness.js'

const dir = scratchDirs()

const freshRoot = () => dir()

function own(root: string): Promise<OwnedStorage> {
  return ownStorage({
    driver: new FsDriver({ root, commit: false }),
    localRoot: root,
    commit: false,
    log: () => {},
    holder: 'test',
  })
}

async function writeLock(root: string, owner: Record<string, unknown> | string): Promise<void> {
  await mkdir(join(root, '_outpost'), { recursive: true })
  await writeFile(
    join(root, '_outpost/lock'),
    typeof owner === 'string' ? owner : JSON.stringify(owner),
  )
}

describe('storage lock', () => {
  it('of two owners racing for one root, exactly one wins, every time', async () => {
    for (let round = 0; round < 20; round++) {
      const root = await freshRoot()
      const results = await Promise.allSettled([own(root), own(root)])
      const won = results.filter((r) => r.status === 'fulfilled')
      const lost = results.filter((r) => r.status === 'rejected')
      assert.equal(won.length, 1, `round ${round}`)
      assert.ok((lost[0] as PromiseRejectedResult).reason instanceof StorageBusyError)
      await (won[0] as PromiseFulfilledResult<OwnedStorage>).value.close()
      assert.deepEqual(await readdir(join(root, '_outpost')).then((e) => e.includes('lock')), false)
    }
  })

  it('refuses while a live owner holds it, and is free after close', async () => {
    const root = await freshRoot()
    const first = await own(root)
    await assert.rejects(own(root), StorageBusyError)
    await first.close()
    const second = await own(root)
    await second.close()
  })

  it('takes over locks left by a dead process, a reused pid, an earlier boot, or a torn write', async () => {
    const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim()
    const stale = [
      { pid: 2 ** 22 + 12345, holder: 'serve' }, // no such process
      { pid: 1, holder: 'serve', bootId, startTime: '999999999' }, // pid 1 is alive, but not that process
      { pid: 1, holder: 'serve', bootId: 'an-earlier-boot', startTime: '1' },
      '', // the owner died while writing the file
    ]
    for (const owner of stale) {
      const root = await freshRoot()
      await writeLock(root, owner)
      const storage = await own(root)
      const lock = JSON.parse(await readFile(join(root, '_outpost/lock'), 'utf8'))
      assert.equal(lock.pid, process.pid, JSON.stringify(owner))
      await storage.close()
      assert.deepEqual(
        (await readdir(join(root, '_outpost'))).filter((e) => e.startsWith('lock')),
        [],
        'no lock or stale lock file left behind',
      )
    }
  })

  it('two servers started together on one root: one serves, the other exits 1', async () => {
    const root = await freshRoot()
    const attempts = await Promise.allSettled([childServer(root), childServer(root)])
    const up = attempts.filter(
      (a) => a.status === 'fulfilled',
    ) as PromiseFulfilledResult<ChildServer>[]
    const down = attempts.filter((a) => a.status === 'rejected') as PromiseRejectedResult[]
    try {
      assert.equal(up.length, 1)
      assert.match(String(down[0].reason), /storage is in use/)
      const res = await fetch(`${up[0].value.url}/v2/`)
      assert.equal(res.status, 200)
    } finally {
      for (const s of up) await s.value.kill('SIGTERM')
    }
  })
})
