// Why `serve` (or an offline command) could not start, as one line an operator can act on:
// the key or endpoint at fault and what to do, never a JavaScript stack. Errors not recognised
// here are bugs, and keep their stack.
import type { OutpostConfig } from '../config/index.js'
import { describeCause } from '../dynamo/errors.js'
import { storesOf } from './verify-checks.js'

const CREDENTIALS_HINT =
  'set storageDriver.accesskey and secretkey, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY ' +
  '(or AWS_PROFILE) in the environment serve runs in (under systemd: Environment= or ' +
  'EnvironmentFile= in a drop-in)'

/** The SDK's credential chain found nothing, anywhere in `err`'s causes. */
function isCredentialsFailure(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    if (e.name === 'CredentialsProviderError') return true
  }
  return false
}

/** The AWS service error's HTTP status, when `err` is one. */
function awsStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode
}

function s3Stores(config: OutpostConfig): string {
  return storesOf(config)
    .filter((s) => s.store.storageDriver)
    .map(({ path, store }) => {
      const d = store.storageDriver!
      return `${path}.storageDriver (bucket "${d.bucket}" at ${d.regionendpoint ?? `region ${d.region}`})`
    })
    .join(', ')
}

/** One line for `err`, or undefined when it is not an operator's problem (a bug). */
export function startFailure(err: unknown, config: OutpostConfig): string | undefined {
  if (!(err instanceof Error)) return undefined
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'EACCES' && (err as NodeJS.ErrnoException).syscall === 'listen') {
    return `${config.http.address}:${config.http.port}: permission denied; use a port above 1023 (http.port) or grant CAP_NET_BIND_SERVICE (see the low-port example drop-in)`
  }
  if (err.name === 'DynamoCacheError') {
    const hint = isCredentialsFailure(err)
      ? `no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the environment serve runs in`
      : 'check storage.cacheDriver endpoint and region, that the endpoint is reachable, and that the credentials may use the table'
    return `${err.message}. ${hint}`
  }
  if (['TableSchemaError', 'LockTimeoutError', 'CredentialsFileError'].includes(err.name))
    return err.message
  const s3 = s3Stores(config)
  if (isCredentialsFailure(err)) {
    return `no AWS credentials found for ${s3 || 'the AWS SDK'}: ${CREDENTIALS_HINT}`
  }
  const status = awsStatus(err)
  if (status !== undefined && s3) {
    const what =
      status === 404
        ? 'the bucket does not exist: create it, or name an existing one in bucket'
        : status === 403
          ? 'the credentials were refused: check accesskey/secretkey and the bucket policy'
          : 'check regionendpoint, region and the bucket'
    return `S3 ${describeCause(err)} (HTTP ${status}) on ${s3}: ${what}`
  }
  if (s3 && ['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH'].includes(code ?? '')) {
    return `S3 endpoint unreachable (${describeCause(err)}) for ${s3}: check regionendpoint and the network`
  }
  return undefined
}
