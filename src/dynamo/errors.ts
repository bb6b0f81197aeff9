// The DynamoDB cache's typed errors. A call that fails after the SDK's retries becomes a
// DynamoCacheError naming the operation, the table and the cause, so an outage reads as one
// plain line in the log instead of an SDK stack.

/** A DynamoDB call failed (endpoint down, access denied, throttled past retries...). */
export class DynamoCacheError extends Error {
  override readonly name = 'DynamoCacheError'

  constructor(
    readonly operation: string,
    readonly table: string,
    cause: unknown,
  ) {
    super(`DynamoDB ${operation} on table "${table}" failed: ${describeCause(cause)}`, { cause })
  }
}

/** A lock was not acquired within the wait limit: another holder kept it all that time. */
export class LockTimeoutError extends Error {
  override readonly name = 'LockTimeoutError'

  constructor(
    readonly lock: string,
    readonly waitedMs: number,
  ) {
    super(`lock "${lock}" not acquired within ${waitedMs} ms: another instance holds it`)
  }
}

/** The error's name and message; a connection error's code and each cause of an aggregate. */
export function describeCause(err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  if (err instanceof AggregateError && err.errors.length > 0) {
    return err.errors.map(describeCause).join('; ')
  }
  const code = (err as { code?: unknown }).code
  const message = err.message || (typeof code === 'string' ? code : '')
  return message ? `${err.name}: ${message}` : err.name
}

/** Whether `err` is the SDK's exception `name` (their classes differ between SDK copies). */
export function isAwsError(err: unknown, name: string): boolean {
  return err instanceof Error && err.name === name
}
