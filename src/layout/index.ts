// Public face of the OCI Image Layout module.
export * from './paths.js'
export * from './index-json.js'
