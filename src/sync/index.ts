// Public face of src/sync: the pull-through cache the HTTP handlers consult.
export {
  PullThrough,
  readCredentials,
  type ServedBlob,
  type ServedManifest,
} from './pull-through.js'
export { UpstreamClient, UpstreamError, type Credentials } from './upstream-client.js'
