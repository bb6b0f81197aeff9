// The content index (src/registry/content-index.ts) in the shared DynamoDB table, so that every
// instance trusts what one of them verified: one item per digest, Key=`blob#<digest>`, with the
// verified Size and the stored object's Identity. Reads are strongly consistent: a record one
// instance just wrote or deleted is seen by the next read of any other.
import {
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb'
import type { ContentIndex, ContentRecord } from '../engine-db/content-index.js'
import { DynamoCacheError } from './errors.js'
import { KEY_ATTRIBUTE } from './tables.js'

/** The item key of the record for `digest`. */
export function blobKey(digest: string): string {
  return `blob#${digest}`
}

export class DynamoContentIndex implements ContentIndex {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
  ) {}

  async get(digest: string): Promise<ContentRecord | undefined> {
    const out = await this.call('GetItem', () =>
      this.client.send(
        new GetItemCommand({
          TableName: this.table,
          Key: { [KEY_ATTRIBUTE]: { S: blobKey(digest) } },
          ConsistentRead: true,
        }),
      ),
    )
    const size = out.Item?.Size?.N
    const identity = out.Item?.Identity?.S
    // An item missing either attribute was not written here: not a record to trust.
    if (size === undefined || identity === undefined) return undefined
    return { size: Number(size), identity }
  }

  async put(digest: string, record: ContentRecord): Promise<void> {
    await this.call('PutItem', () =>
      this.client.send(
        new PutItemCommand({
          TableName: this.table,
          Item: {
            [KEY_ATTRIBUTE]: { S: blobKey(digest) },
            Size: { N: String(record.size) },
            Identity: { S: record.identity },
          },
        }),
      ),
    )
  }

  async delete(digest: string): Promise<void> {
    await this.call('DeleteItem', () =>
      this.client.send(
        new DeleteItemCommand({
          TableName: this.table,
          Key: { [KEY_ATTRIBUTE]: { S: blobKey(digest) } },
        }),
      ),
    )
  }

  private async call<T>(operation: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send()
    } catch (err) {
      throw new DynamoCacheError(`${operation} (content index)`, this.table, err)
    }
  }
}
