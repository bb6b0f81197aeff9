// Public face of the local filesystem driver.
export { FsDriver, type FsDriverOptions } from './fs-driver.js'
export { fsyncCount, fsyncPath, makeDirs } from '../../util/durable-fs.js'
export { acquireLock, LockHeldError } from './lock-file.js'
