// The read-only driver (src/storage/read-only/) over the local filesystem: the shared conformance
// suite's read cases over a hosted directory, and every write refused with ReadOnlyStorageError
// before the directory is touched. test/hosting.test.ts covers it in a served registry.
import { openDriver } from '../src/storage/index.js'
import { FsDriver } from '../src/storage/fs/index.js'
import { ReadOnlyDriver } from '../src/storage/read-only/read-only-driver.js'
import { ReadOnlyStorageError } from '../src/storage/index.js'
import { readOnlyConformance } from './helpers/driver-conformance.js'
import { scratchDirs } from './helpers/harness.js'

const dir = scratchDirs()

readOnlyConformance(
  'read-only (over fs)',
  async () => {
    const root = await dir()
    const seed = new FsDriver({ root, commit: false })
    return { driver: openDriver(new ReadOnlyDriver(seed, { source: root })), seed }
  },
  ReadOnlyStorageError,
)
