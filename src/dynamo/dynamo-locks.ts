// Named locks shared by every instance on one bucket (src/util/locks.ts), as leases in the
// DynamoDB table: one item per lock name, Key=`lock#<name>`, holding the holder's random token
// (Owner) and the lease's end (Expires, epoch milliseconds).
//
// - Acquire: a conditional PutItem that succeeds only when no lease exists or the one there has
//   expired; on a failed condition, retry with jittered backoff up to a wait limit.
// - Hold: while the task runs, extend Expires every ttl/3 with an UpdateItem conditioned on
//   Owner being ours, so a task longer than the ttl keeps its lease; a holder that dies stops
//   renewing, and its lease is taken over once it expires.
// - Release: a DeleteItem conditioned on Owner being ours (a lease already lost is left alone).
//
// Clocks. DynamoDB has no server-side time in condition expressions, so Expires is written with
// the holder's clock and compared with the taker's. A taker whose clock runs d ms ahead of the
// holder's sees the lease end d ms early. Since the holder renews every ttl/3, its lease always
// has at least about 2/3 ttl (20 s by default) left by its own clock; correctness therefore needs
// the instances' clocks within a few seconds of each other (NTP), far below that margin. A
// holder stalled longer than its lease (a paused VM) loses it; the next renewal notices and logs.
//
// Tasks of one process for one name first queue in memory (KeyedLock), so a process never
// competes with itself through DynamoDB.
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  DeleteItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb'
import { KeyedLock } from '../util/keyed-lock.js'
import type { Locks } from '../util/locks.js'
import type { LogFn } from '../registry/registry.js'
import { describeCause, DynamoCacheError, isAwsError, LockTimeoutError } from './errors.js'
import { KEY_ATTRIBUTE } from './tables.js'

export const DEFAULT_LEASE_TTL_MS = 30_000
export const DEFAULT_LOCK_WAIT_MS = 120_000
const MIN_BACKOFF_MS = 10
const MAX_BACKOFF_MS = 250

// Key and Owner are DynamoDB reserved words: every attribute goes through a placeholder.
const NAMES = { '#k': KEY_ATTRIBUTE, '#o': 'Owner', '#e': 'Expires' }

export interface DynamoLocksOptions {
  client: DynamoDBClient
  table: string
  log: LogFn
  /** lease length; renewed every ttl/3 while the task runs (default 30 s) */
  ttlMs?: number
  /** how long `run` waits for a lock held elsewhere before LockTimeoutError (default 2 min) */
  waitMs?: number
}

interface Lease {
  name: string
  owner: string
  timer: NodeJS.Timeout
  renewing?: Promise<void>
  lost: boolean
  released: boolean
}

/** The item key of the lease for lock `name`. */
export function lockKey(name: string): string {
  return `lock#${name}`
}

export class DynamoLocks implements Locks {
  private readonly client: DynamoDBClient
  private readonly table: string
  private readonly log: LogFn
  private readonly ttlMs: number
  private readonly waitMs: number
  private readonly local = new KeyedLock()
  private readonly held = new Set<Lease>()
  private closed = false

  constructor(options: DynamoLocksOptions) {
    this.client = options.client
    this.table = options.table
    this.log = options.log
    this.ttlMs = options.ttlMs ?? DEFAULT_LEASE_TTL_MS
    this.waitMs = options.waitMs ?? DEFAULT_LOCK_WAIT_MS
    if (!(this.ttlMs >= 3)) throw new RangeError(`lease ttl must be at least 3 ms: ${this.ttlMs}`)
  }

  run<T>(name: string, task: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`lock "${name}": the locks are closed`))
    return this.local.run(name, async () => {
      const lease = await this.acquire(name)
      try {
        return await task()
      } finally {
        await this.release(lease)
      }
    })
  }

  /** Stop renewals and release every lease held; call once in-flight tasks are done. */
  async close(): Promise<void> {
    this.closed = true
    await Promise.all([...this.held].map((lease) => this.release(lease)))
  }

  private async acquire(name: string): Promise<Lease> {
    const owner = randomUUID()
    const started = Date.now()
    for (let attempt = 0; ; attempt++) {
      const now = Date.now()
      try {
        await this.client.send(
          new PutItemCommand({
            TableName: this.table,
            Item: {
              [KEY_ATTRIBUTE]: { S: lockKey(name) },
              Owner: { S: owner },
              Expires: { N: String(now + this.ttlMs) },
            },
            ConditionExpression: 'attribute_not_exists(#k) OR #e < :now',
            ExpressionAttributeNames: { '#k': NAMES['#k'], '#e': NAMES['#e'] },
            ExpressionAttributeValues: { ':now': { N: String(now) } },
          }),
        )
        break
      } catch (err) {
        if (!isAwsError(err, 'ConditionalCheckFailedException')) {
          throw new DynamoCacheError(`PutItem (acquiring lock "${name}")`, this.table, err)
        }
      }
      const waited = Date.now() - started
      if (waited >= this.waitMs) throw new LockTimeoutError(name, this.waitMs)
      // Full exponential backoff would leave a lock idle long after its release; the cap keeps
      // a waiter within ~250 ms of it, the jitter keeps waiters from retrying in step.
      const ceiling = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** Math.min(attempt, 10))
      const delay = ceiling / 2 + (Math.random() * ceiling) / 2
      await sleep(Math.min(delay, this.waitMs - waited))
    }
    const lease: Lease = {
      name,
      owner,
      lost: false,
      released: false,
      timer: setInterval(() => this.renew(lease), Math.floor(this.ttlMs / 3)),
    }
    lease.timer.unref()
    this.held.add(lease)
    return lease
  }

  private renew(lease: Lease): void {
    if (lease.renewing || lease.released || lease.lost) return
    lease.renewing = (async () => {
      try {
        await this.client.send(
          new UpdateItemCommand({
            TableName: this.table,
            Key: { [KEY_ATTRIBUTE]: { S: lockKey(lease.name) } },
            UpdateExpression: 'SET #e = :expires',
            ConditionExpression: '#o = :me',
            ExpressionAttributeNames: { '#o': NAMES['#o'], '#e': NAMES['#e'] },
            ExpressionAttributeValues: {
              ':expires': { N: String(Date.now() + this.ttlMs) },
              ':me': { S: lease.owner },
            },
          }),
        )
      } catch (err) {
        if (lease.released) return
        if (isAwsError(err, 'ConditionalCheckFailedException')) {
          lease.lost = true
          clearInterval(lease.timer)
          this.log('dynamodb lock lease lost: it expired and another instance may hold it', {
            lock: lease.name,
            table: this.table,
          })
        } else {
          this.log('dynamodb lock lease renewal failed; retrying', {
            lock: lease.name,
            table: this.table,
            error: describeCause(err),
          })
        }
      } finally {
        lease.renewing = undefined
      }
    })()
  }

  private async release(lease: Lease): Promise<void> {
    if (lease.released) return
    lease.released = true
    clearInterval(lease.timer)
    this.held.delete(lease)
    await lease.renewing
    try {
      await this.client.send(
        new DeleteItemCommand({
          TableName: this.table,
          Key: { [KEY_ATTRIBUTE]: { S: lockKey(lease.name) } },
          ConditionExpression: '#o = :me',
          ExpressionAttributeNames: { '#o': NAMES['#o'] },
          ExpressionAttributeValues: { ':me': { S: lease.owner } },
        }),
      )
    } catch (err) {
      // A failed condition: the lease was lost to another holder, whose lease stays.
      if (isAwsError(err, 'ConditionalCheckFailedException')) return
      // The task is done either way; the lease ends by itself after its ttl.
      this.log('dynamodb lock release failed; the lease expires by itself', {
        lock: lease.name,
        table: this.table,
        error: describeCause(err),
      })
    }
  }
}
