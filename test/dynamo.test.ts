// The DynamoDB cache driver against dynalite: zot's cacheDriver keys, the one table (created,
// reused, refused when its key differs), lock leases shared by two instances (mutual exclusion,
// takeover from a dead holder, renewal through a long task), the content index, and an endpoint
// that is down or silent failing fast with a clear error.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { createServer, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, before, describe, it } from 'node:test'
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  type DynamoDBClientConfig,
} from '@aws-sdk/client-dynamodb'
import {
  DynamoCacheError,
  DynamoContentIndex,
  dynamoCacheDriverSchema,
  ensureTable,
  LockTimeoutError,
  lockKey,
  openDynamoCache,
  resolveDynamoSettings,
  TableSchemaError,
  type DynamoCache,
  type OpenDynamoCacheOptions,
} from '../src/dynamo/index.js'
import {
  dynaliteCacheDriverConfig,
  holdLockInChild,
  rawDynamoClient,
  startDynalite,
  type Dynalite,
} from './helpers/dynamo.js'

/** For tests that would hang if the driver did: fail instead. */
const T = { timeout: 30_000 }
let server: Dynalite
let raw: DynamoDBClient
const caches: DynamoCache[] = []
const cleanups: (() => unknown)[] = []

before(async () => {
  server = await startDynalite()
  raw = rawDynamoClient(server)
})
after(async () => {
  for (const cache of caches) await cache.close().catch(() => {})
  for (const cleanup of cleanups) await cleanup()
  raw.destroy()
  await server.stop()
})

interface Logged {
  msg: string
  fields?: Record<string, unknown>
}

/** One instance's cache (its own SDK client), closed after the file. */
async function openCache(
  config: Record<string, unknown>,
  options: OpenDynamoCacheOptions = {},
  logged: Logged[] = [],
): Promise<DynamoCache> {
  const cache = await openDynamoCache(
    resolveDynamoSettings(config),
    (msg, fields) => logged.push({ msg, fields }),
    options,
  )
  caches.push(cache)
  return cache
}

/** Issues of a failed parse as "path: message" lines. */
function problems(input: unknown): string[] {
  const result = dynamoCacheDriverSchema.safeParse(input)
  assert.equal(result.success, false, 'expected the config to be rejected')
  return result.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
}

describe('cacheDriver options', () => {
  const seed = {
    name: 'dynamodb',
    endpoint: 'http://localhost:4566',
    region: 'us-east-2',
    cacheTablename: 'ZotBlobTable',
    repoMetaTablename: 'ZotRepoMetadataTable',
    manifestDataTablename: 'ZotManifestDataTable',
    versionTablename: 'ZotVersion',
  }

  it("accepts zot's fields and resolves one table, warning about the unused ones", () => {
    const settings = resolveDynamoSettings(seed)
    assert.equal(settings.table, 'ZotBlobTable')
    assert.equal(settings.client.region, 'us-east-2')
    assert.equal(settings.client.endpoint, 'http://localhost:4566')
    assert.equal(settings.warnings.length, 1)
    for (const key of ['repoMetaTablename', 'manifestDataTablename', 'versionTablename']) {
      assert.match(settings.warnings[0]!, new RegExp(`cacheDriver\\.${key}\\b`))
    }
    assert.match(settings.warnings[0]!, /unused.*"ZotBlobTable"/)
    const bare = resolveDynamoSettings({ name: 'dynamodb', region: 'eu-west-1', tableName: 'T1x' })
    assert.deepEqual(bare.warnings, [])
    assert.equal(bare.client.endpoint, undefined, 'no endpoint: the SDK picks the AWS one')
  })

  it('takes tableName as an alias of cacheTablename', () => {
    const alias = { name: 'dynamodb', region: 'us-east-2', tableName: 'MainTable' }
    assert.equal(resolveDynamoSettings(alias).table, 'MainTable')
    const both = { ...alias, cacheTablename: 'MainTable' }
    assert.equal(resolveDynamoSettings(both).table, 'MainTable')
    assert.deepEqual(problems({ ...alias, cacheTablename: 'OtherTable' }), [
      'tableName: tableName is an alias of cacheTablename: give one, or the same name in both',
    ])
  })

  it('rejects a wrong name, a missing region or table, and unknown keys, saying why', () => {
    const [name] = problems({ ...seed, name: 'redis' })
    assert.match(name!, /^name: expected "dynamodb".*local cache is LMDB.*cacheDriver is left out/)
    const [region] = problems({ name: 'dynamodb', cacheTablename: 'ZotBlobTable' })
    assert.match(region!, /^region: region is required/)
    const [table] = problems({ name: 'dynamodb', region: 'us-east-2' })
    assert.match(table!, /^cacheTablename: cacheTablename is required/)
    assert.match(problems({ ...seed, endpoint: 'localhost:4566' })[0]!, /^endpoint: .*http:\/\//)
    assert.match(problems({ ...seed, tableName: 'a' })[0]!, /^tableName: expected a DynamoDB/)
    assert.match(problems({ ...seed, accessKey: 'x' })[0]!, /accessKey/)
  })
})

describe('the table', () => {
  it('is created when missing: key Key (S), on demand, ACTIVE', T, async () => {
    const config = dynaliteCacheDriverConfig(server)
    await openCache(config)
    const { Table } = await raw.send(
      new DescribeTableCommand({ TableName: config.cacheTablename as string }),
    )
    assert.equal(Table?.TableStatus, 'ACTIVE')
    assert.deepEqual(Table?.KeySchema, [{ AttributeName: 'Key', KeyType: 'HASH' }])
    assert.deepEqual(Table?.AttributeDefinitions, [{ AttributeName: 'Key', AttributeType: 'S' }])
    assert.equal(Table?.BillingModeSummary?.BillingMode, 'PAY_PER_REQUEST')
  })

  it(
    'is reused with its items when it exists, even by two instances creating it at once',
    T,
    async () => {
      const config = dynaliteCacheDriverConfig(server)
      const [a, b] = await Promise.all([openCache(config), openCache(config)])
      await a.contents.put('sha256:aa', { size: 3, identity: 'etag-a' })
      const c = await openCache(config)
      assert.deepEqual(await c.contents.get('sha256:aa'), { size: 3, identity: 'etag-a' })
      assert.deepEqual(await b.contents.get('sha256:aa'), { size: 3, identity: 'etag-a' })
    },
  )

  it('is refused, named with its key schema, when its key is not Outpost’s', T, async () => {
    const name = `foreign-${randomUUID()}`
    await raw.send(
      new CreateTableCommand({
        TableName: name,
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'N' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    )
    const err = await openCache(dynaliteCacheDriverConfig(server, { cacheTablename: name })).then(
      () => assert.fail('a foreign table was accepted'),
      (e: unknown) => e,
    )
    assert.ok(err instanceof TableSchemaError)
    assert.match(
      err.message,
      new RegExp(`table "${name}" has key schema HASH "pk" \\(S\\), RANGE "sk" \\(N\\)`),
    )
    assert.match(err.message, /Outpost needs a partition key "Key" of type S/)
    // ensureTable alone says the same, and leaves the table as it was.
    await assert.rejects(ensureTable(raw, name), TableSchemaError)
    const { Table } = await raw.send(new DescribeTableCommand({ TableName: name }))
    assert.equal(Table?.KeySchema?.[0]?.AttributeName, 'pk')
  })
})

describe('locks shared by two instances', () => {
  /** 20 concurrent read-increment-write tasks on a counter item, through `run`. */
  async function countTo20(
    run: (i: number, task: () => Promise<void>) => Promise<void>,
  ): Promise<{ total: number; maxInside: number }> {
    const key = `test#counter-${randomUUID()}`
    let inside = 0
    let maxInside = 0
    const read = async () => {
      const { Item } = await raw.send(
        new GetItemCommand({
          TableName: counterTable,
          Key: { Key: { S: key } },
          ConsistentRead: true,
        }),
      )
      return Number(Item?.Count?.N ?? 0)
    }
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        run(i, async () => {
          maxInside = Math.max(maxInside, ++inside)
          const value = await read()
          await sleep(20) // the window in which an unlocked writer loses another's update
          await raw.send(
            new PutItemCommand({
              TableName: counterTable,
              Item: { Key: { S: key }, Count: { N: String(value + 1) } },
            }),
          )
          inside--
        }),
      ),
    )
    return { total: await read(), maxInside }
  }

  let counterTable: string
  let config: Record<string, unknown>
  let a: DynamoCache
  let b: DynamoCache
  before(async () => {
    config = dynaliteCacheDriverConfig(server)
    counterTable = config.cacheTablename as string
    a = await openCache(config)
    b = await openCache(config)
  })

  it(
    'without a lock, concurrent read-increment-write loses updates (the test can fail)',
    T,
    async () => {
      const { total, maxInside } = await countTo20((_, task) => task())
      assert.ok(total < 20, `expected lost updates, got ${total}`)
      assert.ok(maxInside > 1)
    },
  )

  it('with the lock, no update is lost and one task runs at a time', T, async () => {
    const { total, maxInside } = await countTo20((i, task) =>
      (i % 2 === 0 ? a : b).locks.run('counter', task),
    )
    assert.equal(total, 20)
    assert.equal(maxInside, 1)
    const { Item } = await raw.send(
      new GetItemCommand({ TableName: counterTable, Key: { Key: { S: lockKey('counter') } } }),
    )
    assert.equal(Item, undefined, 'every lease was released')
  })
})

describe('lease expiry and renewal', () => {
  let config: Record<string, unknown>
  before(() => {
    config = dynaliteCacheDriverConfig(server)
  })

  /** The lease item of lock `name`, as stored. */
  async function lease(name: string): Promise<{ owner?: string; expires: number } | undefined> {
    const { Item } = await raw.send(
      new GetItemCommand({
        TableName: config.cacheTablename as string,
        Key: { Key: { S: lockKey(name) } },
        ConsistentRead: true,
      }),
    )
    return Item && { owner: Item.Owner?.S, expires: Number(Item.Expires?.N) }
  }

  it('a lease left by a holder killed with SIGKILL is taken over once it expires', T, async () => {
    const ttlMs = 1500
    const taker = await openCache(config)
    const holder = holdLockInChild(resolveDynamoSettings(config), 'orphan', ttlMs)
    cleanups.push(holder.kill)
    await holder.held
    const left = await lease('orphan')
    assert.ok(left?.owner, 'the child holds a lease')
    await holder.kill()
    const killedAt = Date.now()
    const takenAt = await taker.locks.run('orphan', async () => {
      const mine = await lease('orphan')
      assert.notEqual(mine?.owner, left.owner, 'the lease is the taker’s now')
      return Date.now()
    })
    // Same machine, same clock: never before the dead holder's lease ended, and soon after.
    assert.ok(takenAt > left.expires, `taken ${left.expires - takenAt} ms before the lease ended`)
    assert.ok(takenAt - killedAt < ttlMs + 1000, `taken ${takenAt - killedAt} ms after the kill`)
  })

  it('a task longer than the ttl keeps its lease through renewals', T, async () => {
    const logged: Logged[] = []
    const holder = await openCache(config, { locks: { ttlMs: 600 } }, logged)
    const impatient = await openCache(config, { locks: { waitMs: 1200 } })
    const patient = await openCache(config)
    let heldUntil = 0
    let started!: () => void
    const running = new Promise<void>((resolve) => (started = resolve))
    const long = holder.locks.run('long', async () => {
      started()
      await sleep(2000) // more than three ttls: without renewal the lease would lapse
      heldUntil = Date.now()
    })
    await running
    const t0 = Date.now()
    const err = await impatient.locks
      .run('long', async () => assert.fail('lock taken'))
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    assert.ok(err instanceof LockTimeoutError, `expected LockTimeoutError, got ${String(err)}`)
    assert.equal(err.lock, 'long')
    assert.match(err.message, /lock "long" not acquired within 1200 ms/)
    assert.ok(Date.now() - t0 >= 1200)
    const startedAt = await patient.locks.run('long', async () => Date.now())
    await long
    assert.ok(heldUntil > 0 && startedAt >= heldUntil, 'the second instance waited for the first')
    assert.deepEqual(logged, [], 'no renewal failed')
  })

  it(
    'a renewal that finds the lease lost logs it, and release leaves the new holder alone',
    T,
    async () => {
      const logged: Logged[] = []
      const holder = await openCache(config, { locks: { ttlMs: 300 } }, logged)
      await holder.locks.run('stolen', async () => {
        // Another instance took the lease (as after a stall longer than the ttl).
        await raw.send(
          new PutItemCommand({
            TableName: config.cacheTablename as string,
            Item: {
              Key: { S: lockKey('stolen') },
              Owner: { S: 'intruder' },
              Expires: { N: String(Date.now() + 60_000) },
            },
          }),
        )
        await sleep(400)
      })
      assert.equal(logged.length, 1, JSON.stringify(logged))
      assert.match(logged[0]!.msg, /lease lost/)
      assert.equal(logged[0]!.fields?.lock, 'stolen')
      assert.equal((await lease('stolen'))?.owner, 'intruder')
    },
  )
})

describe('content index', () => {
  it('round-trips records, read consistently by another instance', T, async () => {
    const config = dynaliteCacheDriverConfig(server)
    const a = await openCache(config)
    const b = await openCache(config)
    const digest = `sha256:${'ab'.repeat(32)}`
    assert.equal(await b.contents.get(digest), undefined)
    await a.contents.put(digest, { size: 123_456_789_012, identity: '"etag-1"' })
    assert.deepEqual(await b.contents.get(digest), { size: 123_456_789_012, identity: '"etag-1"' })
    await b.contents.put(digest, { size: 7, identity: '"etag-2"' })
    assert.deepEqual(await a.contents.get(digest), { size: 7, identity: '"etag-2"' })
    await a.contents.delete(digest)
    assert.equal(await b.contents.get(digest), undefined)
    await a.contents.delete(digest) // deleting what is gone is fine
    const { Item } = await raw.send(
      new GetItemCommand({
        TableName: config.cacheTablename as string,
        Key: { Key: { S: 'blob#sha256:none' } },
      }),
    )
    assert.equal(Item, undefined)
  })
})

describe('an endpoint that is down or silent', () => {
  /** Short SDK retries and timeouts, so each failure shows within a few seconds. */
  const short: Partial<DynamoDBClientConfig> = {
    maxAttempts: 2,
    requestHandler: { connectionTimeout: 500, requestTimeout: 1000, throwOnRequestTimeout: true },
  }

  it('dynalite stopped: lock and content calls fail fast, naming the table', T, async () => {
    const own = await startDynalite()
    cleanups.push(own.stop)
    const config = dynaliteCacheDriverConfig(own)
    const cache = await openCache(config, { client: short })
    await cache.contents.put('sha256:cc', { size: 1, identity: 'x' })
    await own.stop()
    let ran = false
    const table = config.cacheTablename as string
    const check = (what: RegExp) => (err: unknown) => {
      assert.ok(err instanceof DynamoCacheError, `expected DynamoCacheError, got ${String(err)}`)
      assert.match(err.message, what)
      assert.match(err.message, new RegExp(`table "${table}" failed: .*ECONNREFUSED`))
      return true
    }
    let t0 = Date.now()
    await assert.rejects(
      cache.locks.run('down', async () => void (ran = true)),
      check(/PutItem \(acquiring lock "down"\)/),
    )
    assert.ok(Date.now() - t0 < 5000, `lock failed after ${Date.now() - t0} ms`)
    assert.equal(ran, false)
    t0 = Date.now()
    await assert.rejects(cache.contents.get('sha256:cc'), check(/GetItem \(content index\)/))
    assert.ok(Date.now() - t0 < 5000, `get failed after ${Date.now() - t0} ms`)
  })

  it('an endpoint that never answers: calls time out instead of hanging', T, async () => {
    const sockets = new Set<Socket>()
    const silent = createServer((s) => sockets.add(s.on('close', () => sockets.delete(s))))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => {
      for (const s of sockets) s.destroy()
      silent.close()
    })
    const port = (silent.address() as { port: number }).port
    const settings = resolveDynamoSettings({
      name: 'dynamodb',
      region: 'us-east-2',
      endpoint: `http://127.0.0.1:${port}`,
      cacheTablename: 'silent',
    })
    const client = new DynamoDBClient({ ...settings.client, ...short })
    cleanups.push(() => client.destroy())
    const t0 = Date.now()
    await assert.rejects(new DynamoContentIndex(client, 'silent').get('sha256:dd'), (err) => {
      assert.ok(err instanceof DynamoCacheError)
      assert.match(err.message, /GetItem \(content index\) on table "silent" failed: .*Timeout/i)
      return true
    })
    const elapsed = Date.now() - t0
    assert.ok(elapsed >= 1000 && elapsed < 6000, `failed after ${elapsed} ms`)
  })
})
