// Public face of the storage-driver contract.
export * from './driver.js'
export * from './file-source.js'
export * from './health.js'
