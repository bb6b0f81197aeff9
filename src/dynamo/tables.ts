// The one table Outpost keeps its shared state in: partition key `Key` (a string), no sort key,
// on-demand capacity (PAY_PER_REQUEST: lock traffic is bursty and small). Created at startup when
// missing, so a fresh deployment needs only the permission to create it; reused as it is when
// present, whatever its capacity mode, as long as its key is the one Outpost writes.
import { setTimeout as sleep } from 'node:timers/promises'
import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  type TableDescription,
} from '@aws-sdk/client-dynamodb'
import { DynamoCacheError, isAwsError } from './errors.js'

/** The partition key attribute of every Outpost item. */
export const KEY_ATTRIBUTE = 'Key'

const NEEDED = `a partition key "${KEY_ATTRIBUTE}" of type S (string) and no sort key`

export interface EnsureTableOptions {
  /** how long to wait for a table being created to become ACTIVE (default 2 minutes) */
  timeoutMs?: number
  /** pause between two DescribeTable calls while waiting (default 250 ms) */
  pollMs?: number
}

/** The table's key schema is not Outpost's: it cannot be used, and is never altered. */
export class TableSchemaError extends Error {
  override readonly name = 'TableSchemaError'
}

/** Make sure `name` exists, is ACTIVE and has Outpost's key schema; create it when missing. */
export async function ensureTable(
  client: DynamoDBClient,
  name: string,
  options: EnsureTableOptions = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 120_000
  const pollMs = options.pollMs ?? 250
  let table = await describe(client, name)
  if (table === undefined) {
    try {
      const created = await client.send(
        new CreateTableCommand({
          TableName: name,
          KeySchema: [{ AttributeName: KEY_ATTRIBUTE, KeyType: 'HASH' }],
          AttributeDefinitions: [{ AttributeName: KEY_ATTRIBUTE, AttributeType: 'S' }],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      )
      table = created.TableDescription
    } catch (err) {
      // Another instance started creating it first: wait for theirs.
      if (!isAwsError(err, 'ResourceInUseException')) {
        throw new DynamoCacheError('CreateTable', name, err)
      }
      table = await describe(client, name)
    }
  }
  const deadline = Date.now() + timeoutMs
  while (table?.TableStatus !== 'ACTIVE') {
    if (table !== undefined) checkKeySchema(name, table)
    if (Date.now() >= deadline) {
      const status = table?.TableStatus ?? 'missing'
      throw new DynamoCacheError(
        'DescribeTable',
        name,
        `the table is still ${status} after ${timeoutMs} ms`,
      )
    }
    await sleep(pollMs)
    table = await describe(client, name)
  }
  checkKeySchema(name, table)
}

/** The table's description, or undefined when it does not exist. */
async function describe(
  client: DynamoDBClient,
  name: string,
): Promise<TableDescription | undefined> {
  try {
    const out = await client.send(new DescribeTableCommand({ TableName: name }))
    return out.Table
  } catch (err) {
    if (isAwsError(err, 'ResourceNotFoundException')) return undefined
    throw new DynamoCacheError('DescribeTable', name, err)
  }
}

function checkKeySchema(name: string, table: TableDescription): void {
  const keys = table.KeySchema ?? []
  const types = new Map(
    (table.AttributeDefinitions ?? []).map((d) => [d.AttributeName, d.AttributeType]),
  )
  const ok =
    keys.length === 1 &&
    keys[0]!.AttributeName === KEY_ATTRIBUTE &&
    keys[0]!.KeyType === 'HASH' &&
    types.get(KEY_ATTRIBUTE) === 'S'
  if (ok) return
  const found = keys
    .map((k) => `${k.KeyType} "${k.AttributeName}" (${types.get(k.AttributeName) ?? '?'})`)
    .join(', ')
  throw new TableSchemaError(
    `DynamoDB table "${name}" has key schema ${found || '(none)'}; Outpost needs ${NEEDED}. ` +
      'Name another table in cacheDriver.cacheTablename (Outpost creates it when missing).',
  )
}
