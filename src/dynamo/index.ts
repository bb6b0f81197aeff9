// Public face of the DynamoDB cache driver (zot's storage.cacheDriver): lock leases and the
// content index that several instances on one bucket share, all in one table.
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb'
import type { LogFn } from '../registry/registry.js'
import { DynamoContentIndex } from './dynamo-content-index.js'
import { DynamoLocks, type DynamoLocksOptions } from './dynamo-locks.js'
import type { DynamoSettings } from '../config/dynamo-options.js'
import { ensureTable, type EnsureTableOptions } from './tables.js'

export { blobKey, DynamoContentIndex } from './dynamo-content-index.js'
export {
  DEFAULT_LEASE_TTL_MS,
  DEFAULT_LOCK_WAIT_MS,
  DynamoLocks,
  lockKey,
  type DynamoLocksOptions,
} from './dynamo-locks.js'
export {
  dynamoCacheDriverSchema,
  resolveDynamoSettings,
  UNUSED_TABLE_KEYS,
  type DynamoCacheDriverConfig,
  type DynamoSettings,
} from '../config/dynamo-options.js'
export { DynamoCacheError, LockTimeoutError } from './errors.js'
export { ensureTable, KEY_ATTRIBUTE, TableSchemaError, type EnsureTableOptions } from './tables.js'

export interface DynamoCache {
  locks: DynamoLocks
  contents: DynamoContentIndex
  /** Release held leases, stop renewals and close the client's connections. */
  close(): Promise<void>
}

export interface OpenDynamoCacheOptions {
  /** lease ttl and wait limit (see DynamoLocksOptions) */
  locks?: Pick<DynamoLocksOptions, 'ttlMs' | 'waitMs'>
  /** how long to wait for a new table to become ACTIVE */
  table?: EnsureTableOptions
  /** SDK client settings over the resolved ones (e.g. shorter retries and timeouts) */
  client?: Partial<DynamoDBClientConfig>
}

/** Connect, make sure the table exists with Outpost's key schema, and build locks and index. */
export async function openDynamoCache(
  settings: DynamoSettings,
  log: LogFn,
  options: OpenDynamoCacheOptions = {},
): Promise<DynamoCache> {
  const client = new DynamoDBClient({ ...settings.client, ...options.client })
  try {
    await ensureTable(client, settings.table, options.table)
  } catch (err) {
    client.destroy()
    throw err
  }
  const locks = new DynamoLocks({ client, table: settings.table, log, ...options.locks })
  const contents = new DynamoContentIndex(client, settings.table)
  let closed: Promise<void> | undefined
  return {
    locks,
    contents,
    close() {
      closed ??= locks.close().finally(() => client.destroy())
      return closed
    },
  }
}
