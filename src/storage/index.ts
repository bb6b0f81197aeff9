// Public face of the storage-driver contract, its shared wrapper and health.
export * from './driver.js'
export * from './checked-driver.js'
export * from './file-source.js'
export * from './health.js'
