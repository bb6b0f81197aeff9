// Public face of the registry layer: what src/http and the CLI may use.
export { Registry, type LogFn } from './registry.js'
export { ownStorage, StorageBusyError, type OwnedStorage } from './storage-owner.js'
export { RegistryError, type ErrorCode } from './errors.js'
export { Digest, type Algorithm } from './digest.js'
export { checkRepoName, checkSessionId, isTag } from './names.js'
export { MAX_MANIFEST_BYTES, MEDIA_TYPES } from './manifest-rules.js'
export type { UploadProgress } from './uploads.js'
