// Why `serve` (or an offline command) could not start, as one line an operator can act on:
// the key or endpoint at fault and what to do, never a JavaScript stack. Errors not recognised
// here are bugs, and keep their stack.
import type { OutpostConfig } from '../config/index.js'
import { operatorError } from '../log/operator-error.js'
import { storesOf } from './verify-checks.js'

/** The S3 stores, by key and endpoint, so a failure says which. */
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
  const e = err as NodeJS.ErrnoException
  if (e.code === 'EACCES' && e.syscall === 'listen') {
    return `${config.http.address}:${config.http.port}: permission denied; use a port above 1023 (http.port) or grant CAP_NET_BIND_SERVICE (see the low-port example drop-in)`
  }
  if (['TableSchemaError', 'LockTimeoutError', 'CredentialsFileError'].includes(err.name))
    return err.message
  const line = operatorError(err)
  if (!line || err.name === 'DynamoCacheError') return line
  const s3 = s3Stores(config)
  return s3 ? `${line} [${s3}]` : line
}
