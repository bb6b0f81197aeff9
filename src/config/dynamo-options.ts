// zot's `storage.cacheDriver` for DynamoDB mapped onto the AWS SDK v3. zot spreads its state over
// up to eight tables; Outpost keeps all its shared state (lock leases, the content index) in ONE
// table, the cacheTablename one, so an administrator grants access to a single table. The other
// *Tablename keys are accepted for compatibility and named in a startup warning as unused.
//
// zot's cacheDriver carries no credentials: the SDK's default chain applies (AWS_ACCESS_KEY_ID /
// AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, the shared credentials file with AWS_PROFILE, then
// instance roles).
import type { DynamoDBClientConfig } from '@aws-sdk/client-dynamodb'
import { z } from 'zod'

/** A connection that cannot be made in this time fails (and is retried) instead of hanging. */
export const CONNECT_TIMEOUT_MS = 3_000
/** A DynamoDB call is a small request: one not answered in this time is dead, and retried. */
export const REQUEST_TIMEOUT_MS = 10_000
/** Attempts per call (the first plus retries), with the SDK's jittered backoff in between. */
export const MAX_ATTEMPTS = 3

// Per the DynamoDB API reference, TableName: 3 to 255 of [a-zA-Z0-9_.-].
const tableName = z
  .string()
  .regex(/^[a-zA-Z0-9_.-]{3,255}$/, 'expected a DynamoDB table name: 3 to 255 of a-z A-Z 0-9 _ . -')

/** zot's table keys besides cacheTablename: accepted, never used by Outpost. */
export const UNUSED_TABLE_KEYS = [
  'repoMetaTablename',
  'manifestDataTablename',
  'versionTablename',
  'imageMetaTablename',
  'repoBlobsInfoTablename',
  'userDataTablename',
  'apiKeyTablename',
] as const

const unusedTables = Object.fromEntries(
  UNUSED_TABLE_KEYS.map((key) => [key, tableName.optional()]),
) as Record<(typeof UNUSED_TABLE_KEYS)[number], z.ZodOptional<typeof tableName>>

/** The cacheDriver object: strict, so a misspelt key fails startup. */
export const dynamoCacheDriverSchema = z
  .strictObject({
    name: z.literal('dynamodb', {
      error:
        'expected "dynamodb": it is the only cacheDriver; the local cache is LMDB, ' +
        'used when cacheDriver is left out',
    }),
    region: z
      .string({
        error: (issue) =>
          issue.input === undefined
            ? 'region is required: the AWS region of the DynamoDB table (e.g. "us-east-2")'
            : 'expected a region name such as "us-east-2"',
      })
      .min(1, 'expected a region name such as "us-east-2"'),
    endpoint: z
      .url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' })
      .optional(),
    cacheTablename: tableName.optional(),
    // The seed's S3 example spells it this way: an alias of cacheTablename.
    tableName: tableName.optional(),
    ...unusedTables,
  })
  .refine((c) => c.cacheTablename !== undefined || c.tableName !== undefined, {
    message: "cacheTablename is required: the DynamoDB table holding all of Outpost's shared state",
    path: ['cacheTablename'],
  })
  .refine(
    (c) =>
      c.cacheTablename === undefined ||
      c.tableName === undefined ||
      c.cacheTablename === c.tableName,
    {
      message: 'tableName is an alias of cacheTablename: give one, or the same name in both',
      path: ['tableName'],
    },
  )

export type DynamoCacheDriverConfig = z.input<typeof dynamoCacheDriverSchema>

export interface DynamoSettings {
  /** the one table Outpost keeps its shared state in */
  table: string
  client: DynamoDBClientConfig
  /** Keys that take no effect; print them at startup. */
  warnings: string[]
}

/** The zot-shaped cacheDriver object (validated here) as SDK client config and table name. */
export function resolveDynamoSettings(input: unknown): DynamoSettings {
  const c = dynamoCacheDriverSchema.parse(input)
  const table = (c.cacheTablename ?? c.tableName)!
  const warnings: string[] = []
  const unused = UNUSED_TABLE_KEYS.filter((key) => c[key] !== undefined)
  if (unused.length > 0) {
    warnings.push(
      `cacheDriver.${unused.join(', cacheDriver.')} unused: Outpost keeps all its shared state ` +
        `in the one table "${table}" (cacheTablename)`,
    )
  }
  const client: DynamoDBClientConfig = {
    region: c.region,
    maxAttempts: MAX_ATTEMPTS,
    requestHandler: {
      connectionTimeout: CONNECT_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      // Without this a request past requestTimeout only logs a warning and keeps waiting.
      throwOnRequestTimeout: true,
    },
  }
  if (c.endpoint !== undefined) client.endpoint = c.endpoint
  return { table, client, warnings }
}
