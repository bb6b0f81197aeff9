// Public face of the engine index.
export * from './engine-db.js'
export type * from './pull-ledger-records.js'
export type * from './repo-summary-records.js'
