// Public face of src/upstream: the pull-through cache the HTTP handlers consult.
export { PullThrough, type ServedBlob, type ServedManifest } from './pull-through.js'
export { CredentialsFileError, readCredentials } from './credentials-file.js'
export { UpstreamClient, UpstreamError, type Credentials } from './upstream-client.js'
