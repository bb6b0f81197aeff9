// The one sharing strategy a store opens with (src/registry/sharing.ts), chosen in
// src/server/storage-owner.ts from the driver's capabilities and the dedupe setting: hard links
// on a filesystem, references to one shared copy on S3 (no hard links), copies with dedupe off;
// and on S3 with dedupe off, a startup pass that gives earlier references full bytes again.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { ownStorage } from '../src/server/storage-owner.js'
import { FsDriver } from '../src/storage/fs/index.js'
import { resolveS3Settings, S3Driver } from '../src/storage/s3/index.js'
import type { StorageDriver } from '../src/storage/index.js'
import { scratchDirs } from './helpers/harness.js'
import { s3rverDriverConfig, startS3rver, type S3Server } from './helpers/s3.js'

const dir = scratchDirs()

async function sharingOf(
  root: string,
  driver: StorageDriver,
  dedupe: boolean,
  staging?: StorageDriver,
) {
  const storage = await ownStorage({
    driver,
    staging,
    localRoot: root,
    commit: false,
    log: () => {},
    holder: 'test',
    dedupe,
  })
  const { kind, startupPass, mountsShare, takesBytes } = storage.registry.sharing
  await storage.close()
  return { kind, startupPass, mountsShare, takesBytes, dedupe: storage.dedupe }
}

describe('sharing strategy chosen when the store opens', () => {
  it('shares by hard link on a filesystem with dedupe on', async () => {
    const root = await dir()
    assert.deepEqual(await sharingOf(root, new FsDriver({ root, commit: false }), true), {
      kind: 'link',
      startupPass: 'share',
      mountsShare: true,
      takesBytes: true,
      dedupe: true,
    })
  })

  it('copies on a filesystem with dedupe off, and runs no startup pass', async () => {
    const root = await dir()
    assert.deepEqual(await sharingOf(root, new FsDriver({ root, commit: false }), false), {
      kind: 'copy',
      startupPass: 'none',
      mountsShare: false,
      takesBytes: true,
      dedupe: false,
    })
  })

  describe('on S3 (s3rver)', () => {
    let s3: S3Server
    let driver: S3Driver
    before(async () => {
      s3 = await startS3rver()
      driver = new S3Driver(resolveS3Settings(s3rverDriverConfig(s3, { rootdirectory: 'sc' })))
    })
    after(async () => {
      driver?.close()
      await s3?.stop()
    })

    it('shares by reference with dedupe on: blobs may not be written as bytes of their own', async () => {
      const root = await dir()
      const staging = new FsDriver({ root, commit: false })
      assert.deepEqual(await sharingOf(root, driver, true, staging), {
        kind: 'reference',
        startupPass: 'share',
        mountsShare: true,
        takesBytes: false,
        dedupe: true,
      })
    })

    it('copies with dedupe off, and restores earlier references at startup', async () => {
      const root = await dir()
      const staging = new FsDriver({ root, commit: false })
      assert.deepEqual(await sharingOf(root, driver, false, staging), {
        kind: 'copy',
        startupPass: 'restore',
        mountsShare: false,
        takesBytes: true,
        dedupe: false,
      })
    })
  })
})
