// Public face of the engine index.
export * from './index-db.js'
