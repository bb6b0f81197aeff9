// A backend failure that an operator fixes, not a bug: no AWS credentials, credentials or a
// bucket refused, an endpoint down. Logged and printed as one line saying what to do, never as
// a JavaScript stack (which is kept for bugs, where it helps).

const CREDENTIALS_HINT =
  'set storageDriver.accesskey and secretkey, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY ' +
  '(or AWS_PROFILE) in the environment serve runs in (under systemd: Environment= or ' +
  'EnvironmentFile= in a drop-in)'

const NETWORK = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'ECONNRESET'])

/** The SDK's credential chain found nothing, anywhere in `err`'s causes. */
export function isCredentialsFailure(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    if (e.name === 'CredentialsProviderError') return true
  }
  return false
}

/** The HTTP status of an AWS service error, when `err` is one. */
export function awsStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode
}

/** One line for `err` when an operator can act on it; undefined otherwise (a bug). */
export function operatorError(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined
  if (isCredentialsFailure(err) && err.name !== 'DynamoCacheError')
    return `no AWS credentials found: ${CREDENTIALS_HINT}`
  if (err.name === 'DynamoCacheError') {
    const hint = isCredentialsFailure(err)
      ? 'no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the environment serve runs in'
      : 'check storage.cacheDriver endpoint and region, that the endpoint is reachable, and that the credentials may use the table'
    return `${err.message}. ${hint}`
  }
  const status = awsStatus(err)
  if (status !== undefined) {
    const what =
      status === 404
        ? 'the bucket does not exist: create it, or name an existing one in storageDriver.bucket'
        : status === 403
          ? 'the credentials were refused: check storageDriver.accesskey and secretkey and the bucket policy'
          : 'check storageDriver.regionendpoint, region and bucket'
    return `AWS ${err.name}: ${err.message} (HTTP ${status}); ${what}`
  }
  const code = (err as NodeJS.ErrnoException).code
  if (code && NETWORK.has(code) && (err as NodeJS.ErrnoException).syscall !== 'listen')
    return `${err.message}: the endpoint is unreachable; check its address (storageDriver.regionendpoint, cacheDriver.endpoint) and the network`
  return undefined
}
