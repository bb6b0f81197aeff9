// Public face of the registry layer: what src/http and the CLI may use.
export { Registry, type LogFn, type RegistryParts } from './registry.js'
export { RegistryRouter } from './router.js'
export { listRepositories } from './catalog.js'
export { RegistryError, type ErrorCode } from './errors.js'
export { Digest, type Algorithm } from './digest.js'
export { checkRepoName, checkSessionId, lookupReference } from './names.js'
export { MAX_MANIFEST_BYTES, MEDIA_TYPES } from './manifest-rules.js'
export { isStorageFull, type UploadProgress } from './uploads.js'
