// Public face of the engine index.
export * from './index-db.js'
export type * from './pull-ledger-records.js'
