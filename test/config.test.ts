// The zot-compatible configuration (docs/configuration.md): zot's own documented examples, a plain local
// config, the storage settings dedupe and GC run on (the seed's gc table, retention, the free-space
// reserve), the budget background work runs under (maintenance), zot's scrub extension, and every
// way a file can be wrong. Each failure must name its JSON path, so every assertion below looks
// for the path in the error text.
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import {
  ConfigError,
  defaultConfig,
  parseConfig,
  resolveStorageSettings,
  type OutpostConfig,
  type StorageSettings,
} from '../src/config/index.js'
import { REPO_ROOT } from './helpers/harness.js'

const NOT_YET = 'not supported yet'
const MINUTE = 60_000
const HOUR = 3_600_000

function fixture(name: string): Promise<string> {
  return readFile(join(REPO_ROOT, 'test/fixtures', name), 'utf8')
}

/** A whole config around `storage` and `extra` top-level keys, as JSON text. */
function config(storage: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return JSON.stringify({ storage: { rootDirectory: '/srv/registry', ...storage }, ...extra })
}

/** The ConfigError `text` raises; fails the test when it parses. */
function rejection(text: string): ConfigError {
  try {
    parseConfig(text, 'test.json')
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`)
    assert.ok(err.message.startsWith('test.json:'), err.message)
    return err
  }
  assert.fail(`expected ${text} to be rejected`)
}

/** Assert the error has a problem at `path` whose text contains `expected`. */
function assertProblem(err: ConfigError, path: string, expected: string): void {
  assert.ok(err.message.includes(`${path}: `), `no problem names ${path}:\n${err.message}`)
  const problem = err.problems.find((p) => p.startsWith(`${path}: `))
  assert.ok(problem?.includes(expected), `${path} should say "${expected}":\n${err.message}`)
}

/** The paths the error names, in order. */
function paths(err: ConfigError): string[] {
  return err.problems.map((p) => p.slice(0, p.indexOf(': ')))
}

/** The resolved storage section of a config whose storage has `fields`. */
function storageOf(fields: Record<string, unknown>): OutpostConfig['storage'] {
  return parseConfig(config(fields)).storage
}

/** What a storage section naming none of dedupe, gc*, retention or minFreeSpace resolves to. */
const DEFAULTS: StorageSettings = {
  dedupe: true,
  cacheDriverIgnored: false,
  gc: { enabled: true, delayMs: HOUR, intervalMs: HOUR },
  retention: {
    dryRun: false,
    delayMs: HOUR,
    policies: [{ repositories: ['**'], deleteUntagged: true, deleteReferrers: true }],
  },
  minFreeSpace: { percent: 5 },
}

/** What a file without `maintenance` and `extensions.scrub` resolves to (safe on a 1 GB Pi). */
const MAINTENANCE: OutpostConfig['maintenance'] = {
  cpuPercent: 50,
  minFreeMemory: 64_000_000,
  ioRate: 8_000_000,
}
const SCRUB_OFF: OutpostConfig['scrub'] = { enabled: false, intervalMs: 24 * HOUR }

describe("zot's documented examples", () => {
  it('accepts the storage example: commit, dedupe, and GC every 24h after a 1h delay', async () => {
    const { storage } = parseConfig(await fixture('zot-storage-example.json'))
    assert.equal(storage.rootDirectory, '/tmp/zot')
    assert.equal(storage.commit, true)
    assert.equal(storage.dedupe, true)
    assert.deepEqual(storage.gc, { enabled: true, delayMs: HOUR, intervalMs: 24 * HOUR })
  })

  it('accepts the three-subPaths example: one store per route, each with its own settings', async () => {
    const { storage } = parseConfig(await fixture('zot-subpaths-example.json'))
    assert.equal(storage.rootDirectory, '/tmp/zot')
    assert.deepEqual(Object.keys(storage.subPaths ?? {}), ['a', 'b', 'c'])
    const { a, b, c } = storage.subPaths!
    assert.deepEqual(
      [a, b, c].map((s) => [s.rootDirectory, s.dedupe, s.gc.enabled, s.createRoot]),
      [
        ['/tmp/zot1', true, true, false],
        ['/tmp/zot2', true, true, false],
        ['/tmp/zot3', false, true, false],
      ],
    )
    // A subpath resolves like the storage section: the same defaults fill in what it omits.
    assert.deepEqual(c, { ...storageOf({ rootDirectory: '/tmp/zot3', dedupe: false }) })
  })

  it('loads the S3 example as written: dedupe on S3 with its DynamoDB cache (tableName)', async () => {
    const { storage } = parseConfig(await fixture('zot-s3-example.json'))
    assert.equal(storage.dedupe, true)
    assert.equal(storage.storageDriver?.bucket, 'zot-storage')
    // remoteCache defaults to true with dedupe on remote storage (zot's rule).
    assert.equal(storage.remoteCache?.table, 'MainTable')
    assert.equal(storage.remoteCache?.client.endpoint, 'http://localhost:4566')
    assert.equal(storage.remoteCache?.client.region, 'us-east-2')
    assert.equal(storage.cacheDriverIgnored, false)
  })

  it('loads the DynamoDB example: remoteCache with cacheTablename, on local storage', async () => {
    const { storage } = parseConfig(await fixture('zot-dynamodb-example.json'))
    assert.equal(storage.remoteCache?.table, 'ZotBlobTable')
    assert.equal(storage.storageDriver, undefined)
  })

  it("points at the line and column of the comma zot's DynamoDB snippet is missing", async () => {
    const fixed = await fixture('zot-dynamodb-example.json')
    const verbatim = fixed.replace('"us-east-2",', '"us-east-2" ')
    assert.notEqual(verbatim, fixed)
    const at = verbatim.indexOf('"cacheTablename"')
    const before = verbatim.slice(0, at).split('\n')
    const err = rejection(verbatim)
    assert.equal(err.problems.length, 1)
    assert.match(err.problems[0], /^not valid JSON/)
    assert.ok(
      err.problems[0].includes(`line ${before.length}, column ${before.at(-1)!.length + 1}`),
      err.message,
    )
  })
})

describe('a valid configuration', () => {
  it('accepts a plain local config with comments and trailing commas', async () => {
    const resolved = parseConfig(await fixture('local-plain.json'))
    assert.deepEqual(resolved, {
      storage: {
        rootDirectory: '/var/lib/outpost',
        commit: true,
        createRoot: false,
        uploadExpiryMs: 90 * MINUTE,
        dedupe: false,
        cacheDriverIgnored: false,
        gc: { enabled: true, delayMs: 2 * HOUR, intervalMs: 0 },
        retention: {
          dryRun: true,
          delayMs: 48 * HOUR,
          policies: [
            { repositories: ['ci/**'], deleteUntagged: true, deleteReferrers: true },
            { repositories: ['**'], deleteUntagged: false, deleteReferrers: false },
          ],
        },
        minFreeSpace: { bytes: 512_000_000 },
      },
      http: {
        address: '127.0.0.1',
        port: 5000,
        shutdownTimeoutMs: 90 * 60_000,
        maxHeaderSize: 16_384,
        uploadIdleTimeoutMs: 120_000,
      },
      log: { level: 'info' },
      maintenance: MAINTENANCE,
      scrub: SCRUB_OFF,
      metrics: { enabled: true, path: '/metrics' },
      ui: { enabled: false },
    } satisfies OutpostConfig)
  })

  it('fills in defaults around a bare rootDirectory, which must never be created', () => {
    const resolved = parseConfig('{"storage": {"rootDirectory": "/srv/registry"}}')
    assert.deepEqual(resolved, {
      storage: {
        rootDirectory: '/srv/registry',
        commit: false,
        createRoot: false,
        uploadExpiryMs: 24 * HOUR,
        ...DEFAULTS,
      },
      http: {
        address: '127.0.0.1',
        port: 5000,
        shutdownTimeoutMs: 30_000,
        maxHeaderSize: 16_384,
        uploadIdleTimeoutMs: 120_000,
      },
      log: { level: 'info' },
      maintenance: MAINTENANCE,
      scrub: SCRUB_OFF,
      metrics: { enabled: true, path: '/metrics' },
      ui: { enabled: false },
    } satisfies OutpostConfig)
  })

  it('leaves comment markers and commas inside strings alone', () => {
    const text = `{
      /* block comment, with a trailing comma inside: , } */
      "storage": { "rootDirectory": "/srv/registry", }, // line comment
      "http": { "address": "host//not-a-comment/*nor this*/,}", },
    }`
    assert.equal(parseConfig(text).http.address, 'host//not-a-comment/*nor this*/,}')
  })

  it('accepts the switched-off values of keys it does not implement yet', () => {
    const resolved = parseConfig(
      config(
        { remoteCache: false, subPaths: {} },
        { extensions: { scrub: { enable: false }, metrics: { enable: false } } },
      ),
    )
    assert.equal(resolved.storage.rootDirectory, '/srv/registry')
  })

  it('takes the port as a number or a string', () => {
    for (const port of [8080, '8080']) {
      assert.equal(parseConfig(config({}, { http: { port } })).http.port, 8080)
    }
    assert.equal(parseConfig(config({}, { http: { port: '0' } })).http.port, 0)
  })
})

describe('storage defaults', () => {
  it('dedupe on, GC hourly after 1h, untagged and orphaned referrers deleted, 5% kept free', () => {
    assert.deepEqual(resolveStorageSettings({ rootDirectory: '/srv/registry' }), DEFAULTS)
  })

  it('gives the zero-configuration default the same settings', () => {
    const { storage } = defaultConfig('/home/pi')
    assert.equal(storage.rootDirectory, '/home/pi/data')
    assert.equal(storage.createRoot, true)
    const { dedupe, cacheDriverIgnored, gc, retention, minFreeSpace } = storage
    assert.deepEqual({ dedupe, cacheDriverIgnored, gc, retention, minFreeSpace }, DEFAULTS)
  })

  it('hands every resolution its own default policy list', () => {
    const first = resolveStorageSettings({ rootDirectory: '/a' })
    first.retention.policies[0].deleteUntagged = false
    first.retention.policies.push({
      repositories: ['x'],
      deleteUntagged: false,
      deleteReferrers: false,
    })
    assert.deepEqual(resolveStorageSettings({ rootDirectory: '/b' }).retention, DEFAULTS.retention)
  })
})

describe('the seed\'s gc table (zot storage guide, "Configuring garbage collection")', () => {
  const gcOf = (fields: Record<string, unknown>) => storageOf(fields).gc

  it('gc false: GC disabled', () => {
    assert.equal(gcOf({ gc: false }).enabled, false)
  })

  it('gc omitted: enabled with a 1 hour interval', () => {
    assert.deepEqual(gcOf({}), { enabled: true, delayMs: HOUR, intervalMs: HOUR })
  })

  it('gc true, gcInterval omitted: enabled with a 1 hour interval', () => {
    assert.deepEqual(gcOf({ gc: true }), { enabled: true, delayMs: HOUR, intervalMs: HOUR })
  })

  it('gc true, gcInterval 0: one pass only (interval 0)', () => {
    for (const zero of ['0', '0s', '0h0m']) {
      assert.deepEqual(gcOf({ gc: true, gcInterval: zero }), {
        enabled: true,
        delayMs: HOUR,
        intervalMs: 0,
      })
    }
  })

  it('gc true, gcInterval > 0: that interval', () => {
    assert.deepEqual(gcOf({ gc: true, gcInterval: '30m' }), {
      enabled: true,
      delayMs: HOUR,
      intervalMs: 30 * MINUTE,
    })
    assert.equal(gcOf({ gc: true, gcInterval: '24h' }).intervalMs, 24 * HOUR)
  })

  it('gcDelay (default 1h) sets the first pass and the minimum age, of blobs and manifests', () => {
    const storage = storageOf({ gcDelay: '90m' })
    assert.deepEqual(storage.gc, { enabled: true, delayMs: 90 * MINUTE, intervalMs: HOUR })
    assert.equal(storage.retention.delayMs, 90 * MINUTE)
    assert.equal(storageOf({ gcDelay: '0' }).gc.delayMs, 0)
  })

  it('accepts gcDelay and gcInterval beside gc false, as zot does (it ignores them)', () => {
    const storage = storageOf({ gc: false, gcDelay: '2h', gcInterval: '12h' })
    assert.equal(storage.gc.enabled, false)
  })

  it('takes dedupe as a boolean, true unless it is false', () => {
    assert.equal(storageOf({ dedupe: false }).dedupe, false)
    assert.equal(storageOf({ dedupe: true }).dedupe, true)
    assert.equal(storageOf({}).dedupe, true)
  })
})

describe('retention (zot storage.retention)', () => {
  // zot's retention guide, with the repositories of the brief; keepTags as zot writes it.
  const zotPolicy = {
    repositories: ['infra/*', 'prod/*'],
    deleteReferrers: false,
    keepTags: [
      { patterns: ['v2.*', '.*-prod'], mostRecentlyPushedCount: 10, pulledWithin: '720h' },
    ],
  }
  const zotRetention = { dryRun: false, delay: '24h', policies: [zotPolicy] }

  it('rejects keepTags: retention by tag is not supported yet', () => {
    const err = rejection(config({ retention: zotRetention }))
    assert.deepEqual(paths(err), ['storage.retention.policies.0.keepTags'])
    assertProblem(err, 'storage.retention.policies.0.keepTags', NOT_YET)
  })

  it("accepts the same policy without keepTags, with zot's defaults for what it omits", () => {
    const { keepTags: _keepTags, ...withoutKeepTags } = zotPolicy
    const { retention } = storageOf({ retention: { ...zotRetention, policies: [withoutKeepTags] } })
    assert.deepEqual(retention, {
      dryRun: false,
      delayMs: 24 * HOUR,
      policies: [
        { repositories: ['infra/*', 'prod/*'], deleteUntagged: true, deleteReferrers: false },
      ],
    })
  })

  it('keeps policies in their order (the first match wins) and reads dryRun', () => {
    const { retention } = storageOf({
      retention: {
        dryRun: true,
        policies: [
          { repositories: ['ci/**'], deleteReferrers: true },
          { repositories: ['**'], deleteUntagged: false, deleteReferrers: false },
        ],
      },
    })
    assert.equal(retention.dryRun, true)
    assert.deepEqual(retention.policies, [
      { repositories: ['ci/**'], deleteUntagged: true, deleteReferrers: true },
      { repositories: ['**'], deleteUntagged: false, deleteReferrers: false },
    ])
  })

  it('treats an empty policy list like none: the default policy applies', () => {
    assert.deepEqual(storageOf({ retention: { policies: [] } }).retention, DEFAULTS.retention)
  })

  it('defaults retention.delay to gcDelay', () => {
    assert.equal(storageOf({ gcDelay: '3h' }).retention.delayMs, 3 * HOUR)
    assert.equal(
      storageOf({ gcDelay: '3h', retention: { delay: '5m' } }).retention.delayMs,
      5 * MINUTE,
    )
  })

  it('names the path of each malformed retention setting', () => {
    const policy = (p: Record<string, unknown>) => config({ retention: { policies: [p] } })
    const cases: Array<[string, string, string]> = [
      [policy({}), 'storage.retention.policies.0.repositories', 'expected array'],
      [policy({ repositories: [] }), 'storage.retention.policies.0.repositories', ''],
      [policy({ repositories: [''] }), 'storage.retention.policies.0.repositories.0', ''],
      [policy({ repositories: '**' }), 'storage.retention.policies.0.repositories', 'array'],
      [
        policy({ repositories: ['**'], deleteUntagged: 'no' }),
        'storage.retention.policies.0.deleteUntagged',
        'expected boolean',
      ],
      // An older zot spelling: named, with what a policy accepts.
      [policy({ repoNames: ['**'] }), 'storage.retention.policies.0.repoNames', 'repositories'],
      [config({ retention: { dryRun: 'yes' } }), 'storage.retention.dryRun', 'expected boolean'],
      [config({ retention: { delay: '1 day' } }), 'storage.retention.delay', 'Go duration'],
      [config({ retention: { policies: {} } }), 'storage.retention.policies', 'expected array'],
      [config({ retention: { keep: 1 } }), 'storage.retention.keep', 'policies'],
    ]
    for (const [text, path, expected] of cases) assertProblem(rejection(text), path, expected)
  })
})

describe("storage.minFreeSpace (Outpost's own)", () => {
  it('accepts a share of the filesystem or a byte count', () => {
    const cases: Array<[string, StorageSettings['minFreeSpace']]> = [
      ['5%', { percent: 5 }],
      ['0.5%', { percent: 0.5 }],
      ['512MB', { bytes: 512_000_000 }],
      ['1GiB', { bytes: 1024 ** 3 }],
      ['64KiB', { bytes: 65_536 }],
      ['1048576', { bytes: 1_048_576 }],
      ['0', { bytes: 0 }],
    ]
    for (const [text, expected] of cases) {
      assert.deepEqual(storageOf({ minFreeSpace: text }).minFreeSpace, expected, text)
    }
  })

  it('rejects what is neither, naming storage.minFreeSpace', () => {
    for (const bad of ['lots', '-5%', '-512MB', '5 percent', '512mb', '1e6', '']) {
      assertProblem(rejection(config({ minFreeSpace: bad })), 'storage.minFreeSpace', '"5%"')
    }
    assertProblem(rejection(config({ minFreeSpace: 512 })), 'storage.minFreeSpace', 'string')
  })

  it('rejects a reserve of the whole filesystem, which would refuse every upload', () => {
    for (const all of ['100%', '150%']) {
      const err = rejection(config({ minFreeSpace: all }))
      assert.deepEqual(paths(err), ['storage.minFreeSpace'])
      assertProblem(err, 'storage.minFreeSpace', 'under 100%')
    }
    assert.deepEqual(storageOf({ minFreeSpace: '99%' }).minFreeSpace, { percent: 99 })
  })
})

describe('S3 storage (storageDriver)', () => {
  it('accepts every documented storageDriver key with dedupe off', () => {
    const parsed = parseConfig(
      config({
        dedupe: false,
        storageDriver: {
          name: 's3',
          region: 'us-east-2',
          bucket: 'zot-storage',
          regionendpoint: 'http://127.0.0.1:9000',
          forcepathstyle: true,
          accesskey: 'a',
          secretkey: 's',
          secure: false,
          skipverify: false,
          v4auth: true,
          encrypt: false,
          chunksize: 10 * 1024 * 1024,
          rootdirectory: '/zot',
          storageclass: 'STANDARD',
          useragent: 'outpost',
          objectacl: 'private',
        },
      }),
    )
    assert.equal(parsed.storage.storageDriver?.bucket, 'zot-storage')
    assert.equal(parsed.storage.dedupe, false)
  })

  it('rejects a chunksize under 5 MiB and unknown storageDriver keys, naming the path', () => {
    const small = rejection(
      config({
        dedupe: false,
        storageDriver: { name: 's3', region: 'r', bucket: 'b', chunksize: 1024 },
      }),
    )
    assertProblem(small, 'storage.storageDriver.chunksize', '5 MiB')
    const unknown = rejection(
      config({
        dedupe: false,
        storageDriver: { name: 's3', region: 'r', bucket: 'b', colour: 'red' },
      }),
    )
    assert.ok(
      paths(unknown).some((p) => p.startsWith('storage.storageDriver')),
      paths(unknown).join(),
    )
  })
})

describe('an invalid configuration', () => {
  it('rejects a port that is not one, naming http.port', () => {
    for (const port of ['80a', '', 70000, '70000', -1, 80.5, true, null]) {
      assertProblem(rejection(config({}, { http: { port } })), 'http.port', '')
    }
  })

  it('names every unknown key by its own path and lists what is accepted there', () => {
    const err = rejection(
      JSON.stringify({
        storage: {
          rootDirectory: '/srv',
          foo: 1,
          subPaths: { '/a': { rootDirectory: '/a', bar: 1 } },
        },
        http: { addres: '127.0.0.1' },
        log: { format: 'json' },
        extensions: { bogus: {} },
        zz: true,
      }),
    )
    assertProblem(err, 'storage.foo', 'unknown key')
    assertProblem(err, 'storage.foo', 'rootDirectory')
    assertProblem(err, 'storage.subPaths./a.bar', 'unknown key')
    assertProblem(err, 'http.addres', 'address')
    assertProblem(err, 'log.format', 'unknown key')
    assertProblem(err, 'extensions.bogus', 'scrub')
    assertProblem(err, 'zz', 'distSpecVersion')
  })

  it('names the path of each value of the wrong type', () => {
    const cases: Array<[string, string, string]> = [
      [config({ commit: 'yes' }), 'storage.commit', 'expected boolean'],
      [config({ rootDirectory: 42 }), 'storage.rootDirectory', 'expected string'],
      [config({ rootDirectory: '' }), 'storage.rootDirectory', ''],
      [config({ gc: 'false' }), 'storage.gc', 'expected boolean'],
      [config({ dedupe: 1 }), 'storage.dedupe', 'expected boolean'],
      [config({ gcDelay: 3600 }), 'storage.gcDelay', 'expected string'],
      [config({ retention: [] }), 'storage.retention', 'expected object'],
      [config({}, { http: { address: 127 } }), 'http.address', 'expected string'],
      [config({}, { http: [] }), 'http', 'expected object'],
      [config({}, { log: { level: 'verbose' } }), 'log.level', 'debug'],
      [config({}, { distSpecVersion: 1.1 }), 'distSpecVersion', 'expected string'],
      ['{"http": {}}', 'storage', 'expected object'],
      ['[]', '(top level)', 'expected object'],
    ]
    for (const [text, path, expected] of cases) assertProblem(rejection(text), path, expected)
  })

  it('says "not supported yet" for each zot feature Outpost does not have yet', () => {
    const cases: Array<[string, string]> = [
      [
        config({ retention: { policies: [{ repositories: ['**'], keepTags: [] }] } }),
        'storage.retention.policies.0.keepTags',
      ],
      [config({}, { http: { auth: { ldap: {} } } }), 'http.auth.ldap'],
      [config({}, { http: { accessControl: { groups: {} } } }), 'http.accessControl.groups'],
      [
        config(
          {},
          {
            extensions: {
              sync: {
                registries: [
                  { urls: ['https://r.example'], onDemand: true, credentialHelper: 'ecr' },
                ],
              },
            },
          },
        ),
        'extensions.sync.registries.0.credentialHelper',
      ],
      // zot turns an extension on when its object is present without "enable".
      [config({}, { extensions: { search: {} } }), 'extensions.search'],
      [config({}, { log: { output: '/var/log/zot.log' } }), 'log.output'],
    ]
    for (const [text, path] of cases) {
      const err = rejection(text)
      assert.deepEqual(paths(err), [path])
      assertProblem(err, path, NOT_YET)
    }
  })
})

describe("zot's cache-driver rules (storage guide, Cache drivers)", () => {
  const S3 = { name: 's3', bucket: 'b', region: 'r' }
  const DYNAMO = { name: 'dynamodb', region: 'r', cacheTablename: 'Blobs' }

  it('rejects dedupe on S3 with the default remote cache and no cacheDriver, saying how to fix it', () => {
    const err = rejection(config({ storageDriver: S3 }))
    assert.deepEqual(paths(err), ['storage.cacheDriver'])
    assertProblem(err, 'storage.cacheDriver', '"remoteCache": false')
    assertProblem(err, 'storage.cacheDriver', '"dedupe": false')
    assertProblem(err, 'storage.cacheDriver', '"name": "dynamodb"')
  })

  it('rejects remoteCache: true without a cacheDriver, on any storage', () => {
    const err = rejection(config({ remoteCache: true }))
    assert.deepEqual(paths(err), ['storage.cacheDriver'])
    assertProblem(err, 'storage.cacheDriver', 'needs a cacheDriver')
  })

  it('keeps the dedupe index local on S3 with remoteCache: false, or with dedupe off', () => {
    for (const extra of [{ remoteCache: false }, { dedupe: false }]) {
      const { storage } = parseConfig(config({ storageDriver: S3, ...extra }))
      assert.equal(storage.remoteCache, undefined)
      assert.equal(storage.cacheDriverIgnored, false)
    }
  })

  it('ignores a cacheDriver when remoteCache is false (a startup warning says so)', () => {
    const { storage } = parseConfig(config({ remoteCache: false, cacheDriver: DYNAMO }))
    assert.equal(storage.remoteCache, undefined)
    assert.equal(storage.cacheDriverIgnored, true)
  })

  it('uses the cacheDriver with dedupe on S3, and with remoteCache: true anywhere', () => {
    const s3 = parseConfig(config({ storageDriver: S3, cacheDriver: DYNAMO })).storage
    assert.equal(s3.remoteCache?.table, 'Blobs')
    const local = parseConfig(config({ remoteCache: true, cacheDriver: DYNAMO })).storage
    assert.equal(local.remoteCache?.table, 'Blobs')
    // Without remoteCache and without remote storage the local LMDB index serves.
    const plain = parseConfig(config({ cacheDriver: DYNAMO })).storage
    assert.equal(plain.remoteCache, undefined)
    assert.equal(plain.cacheDriverIgnored, true)
  })
})

describe("maintenance (Outpost's own): the budget of GC, scrub and the dedupe pass", () => {
  const maintenanceOf = (m: Record<string, unknown>) =>
    parseConfig(config({}, { maintenance: m })).maintenance

  it('defaults to half the CPU, 64 MB left free, 8 MB/s of I/O, any time of day', () => {
    assert.deepEqual(maintenanceOf({}), MAINTENANCE)
    assert.equal('window' in maintenanceOf({}), false)
    assert.deepEqual(defaultConfig('/home/pi').maintenance, MAINTENANCE)
  })

  it('reads each field: a percentage, a size, a rate and local times as minutes', () => {
    const cases: Array<[Record<string, unknown>, Partial<OutpostConfig['maintenance']>]> = [
      [{ cpuPercent: 25 }, { cpuPercent: 25 }],
      [{ cpuPercent: 12.5 }, { cpuPercent: 12.5 }],
      [{ cpuPercent: 100 }, { cpuPercent: 100 }],
      [{ minFreeMemory: '128MB' }, { minFreeMemory: 128_000_000 }],
      [{ minFreeMemory: '256MiB' }, { minFreeMemory: 256 * 1024 ** 2 }],
      [{ minFreeMemory: '0' }, { minFreeMemory: 0 }],
      [{ ioRate: '20MB/s' }, { ioRate: 20_000_000 }],
      [{ ioRate: '512KiB/s' }, { ioRate: 512 * 1024 }],
      [{ ioRate: '1.5MB/s' }, { ioRate: 1_500_000 }],
      [{ ioRate: '1048576/s' }, { ioRate: 1_048_576 }],
      [{ window: '01:00-05:00' }, { window: { start: 60, end: 300 } }],
      [{ window: '22:00-02:30' }, { window: { start: 1320, end: 150 } }], // wraps midnight
      [{ window: '00:00-23:59' }, { window: { start: 0, end: 1439 } }],
    ]
    for (const [m, expected] of cases)
      assert.deepEqual(maintenanceOf(m), { ...MAINTENANCE, ...expected }, JSON.stringify(m))
  })

  it('rejects what it cannot use, naming the path', () => {
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ cpuPercent: 0 }, 'maintenance.cpuPercent', '>=1'],
      [{ cpuPercent: 150 }, 'maintenance.cpuPercent', '<=100'],
      [{ cpuPercent: '50' }, 'maintenance.cpuPercent', 'expected number'],
      [{ minFreeMemory: 'lots' }, 'maintenance.minFreeMemory', '"64MB"'],
      [{ minFreeMemory: '5%' }, 'maintenance.minFreeMemory', '"64MB"'],
      [{ minFreeMemory: 64 }, 'maintenance.minFreeMemory', 'expected string'],
      [{ ioRate: 'fast' }, 'maintenance.ioRate', '"8MB/s"'],
      [{ ioRate: '8MB' }, 'maintenance.ioRate', '"8MB/s"'],
      [{ ioRate: '8MB/min' }, 'maintenance.ioRate', '"8MB/s"'],
      [{ ioRate: '0MB/s' }, 'maintenance.ioRate', 'above 0'],
      [{ window: '25:00-01:00' }, 'maintenance.window', '"01:00-05:00"'],
      [{ window: '01:60-02:00' }, 'maintenance.window', '"01:00-05:00"'],
      [{ window: '1:00-5:00' }, 'maintenance.window', '"01:00-05:00"'],
      [{ window: '01:00' }, 'maintenance.window', '"01:00-05:00"'],
      [{ ioRateLimit: '8MB/s' }, 'maintenance.ioRateLimit', 'ioRate'],
    ]
    for (const [m, path, expected] of cases) {
      const err = rejection(config({}, { maintenance: m }))
      assert.deepEqual(paths(err), [path], JSON.stringify(m))
      assertProblem(err, path, expected)
    }
  })
})

describe("extensions.scrub (zot's)", () => {
  const scrubOf = (scrub: unknown) => parseConfig(config({}, { extensions: { scrub } })).scrub

  it("accepts zot's documented scrub snippet: enabled, every 24h", () => {
    const zot = `{
      "distSpecVersion": "1.1.0",
      "storage": { "rootDirectory": "/tmp/zot" },
      "http": { "address": "127.0.0.1", "port": "8080" },
      "log": { "level": "debug" },
      "extensions": {"scrub": {"enable": true, "interval": "24h"}}
    }`
    assert.deepEqual(parseConfig(zot).scrub, { enabled: true, intervalMs: 24 * HOUR })
  })

  it('is off unless asked for; an object without "enable" turns it on, as in zot', () => {
    assert.deepEqual(parseConfig(config()).scrub, SCRUB_OFF)
    assert.deepEqual(parseConfig(config({}, { extensions: {} })).scrub, SCRUB_OFF)
    const cases: Array<[Record<string, unknown>, boolean, number]> = [
      [{ enable: false }, false, 24 * HOUR],
      [{ enable: false, interval: '1h' }, false, HOUR],
      [{}, true, 24 * HOUR],
      [{ interval: '12h' }, true, 12 * HOUR],
      [{ enable: true, interval: '1m' }, true, MINUTE],
    ]
    for (const [scrub, enabled, intervalMs] of cases)
      assert.deepEqual(scrubOf(scrub), { enabled, intervalMs }, JSON.stringify(scrub))
  })

  it('rejects an interval under a minute, a bad type and an unknown key, naming the path', () => {
    const cases: Array<[unknown, string, string]> = [
      [{ enable: true, interval: '59s' }, 'extensions.scrub.interval', 'at least "1m"'],
      [{ interval: '0' }, 'extensions.scrub.interval', 'at least "1m"'],
      [{ interval: '1 day' }, 'extensions.scrub.interval', 'Go duration'],
      [{ interval: 86400 }, 'extensions.scrub.interval', 'expected string'],
      [{ enable: 'yes' }, 'extensions.scrub.enable', 'expected boolean'],
      [{ enable: true, intervall: '24h' }, 'extensions.scrub.intervall', 'interval'],
      [true, 'extensions.scrub', 'expected object'],
    ]
    for (const [scrub, path, expected] of cases) {
      const err = rejection(config({}, { extensions: { scrub } }))
      assert.deepEqual(paths(err), [path], JSON.stringify(scrub))
      assertProblem(err, path, expected)
    }
  })
})

describe('durations', () => {
  // Every Go duration the file takes: how to write it, and where its milliseconds end up.
  const keys: Record<string, [(v: unknown) => string, (c: OutpostConfig) => number]> = {
    'storage.uploadExpiry': [(v) => config({ uploadExpiry: v }), (c) => c.storage.uploadExpiryMs],
    'storage.gcDelay': [(v) => config({ gcDelay: v }), (c) => c.storage.gc.delayMs],
    'storage.gcInterval': [(v) => config({ gcInterval: v }), (c) => c.storage.gc.intervalMs],
    'storage.retention.delay': [
      (v) => config({ retention: { delay: v } }),
      (c) => c.storage.retention.delayMs,
    ],
    'http.shutdownTimeout': [
      (v) => config({}, { http: { shutdownTimeout: v } }),
      (c) => c.http.shutdownTimeoutMs,
    ],
  }
  const ms = (key: string, value: string) => keys[key][1](parseConfig(keys[key][0](value)))

  it('accepts Go durations wherever a duration is expected', () => {
    for (const key of Object.keys(keys)) {
      assert.equal(ms(key, '90m'), 5_400_000, key)
      assert.equal(ms(key, '1h30m'), 5_400_000, key)
      assert.equal(ms(key, '1.5h'), 5_400_000, key)
      assert.equal(ms(key, '45s'), 45_000, key)
      assert.equal(ms(key, '2m30s500ms'), 150_500, key)
    }
    for (const key of ['http.shutdownTimeout', 'storage.gcDelay', 'storage.gcInterval']) {
      assert.equal(ms(key, '0'), 0, key)
      assert.equal(ms(key, '250ms'), 250, key)
    }
  })

  it('rejects text that is not a Go duration, naming the key', () => {
    for (const bad of ['90', '1d', 'h', '1h30', '', '-5m', '90 m', 'ninety minutes', 90]) {
      for (const [key, [text]] of Object.entries(keys)) {
        const expected =
          typeof bad === 'number' ? 'string' : key === 'storage.uploadExpiry' ? '' : 'Go duration'
        assertProblem(rejection(text(bad)), key, expected)
      }
    }
  })

  it('refuses an upload expiry under a second, which would sweep continuously', () => {
    for (const tiny of ['0', '500ms', '999ms']) {
      assertProblem(
        rejection(config({ uploadExpiry: tiny })),
        'storage.uploadExpiry',
        'at least "1s"',
      )
    }
    assert.equal(ms('storage.uploadExpiry', '1s'), 1000)
  })
})

describe("messages in an operator's words", () => {
  it('a port that is not a number names the value and the range', () => {
    for (const [port, shown] of [
      ['"abc"', '"abc"'],
      ['70000', '70000'],
      ['-1', '-1'],
      ['"80a"', '"80a"'],
    ]) {
      const err = rejection(`{"storage": {"rootDirectory": "/srv"}, "http": {"port": ${port}}}`)
      assert.deepEqual(err.problems, [
        `http.port: ${shown} is not a port number (1-65535, or 0 for any free port)`,
      ])
    }
    assert.equal(
      parseConfig('{"storage": {"rootDirectory": "/srv"}, "http": {"port": "8080"}}').http.port,
      8080,
    )
  })

  it('subPaths without a top-level rootDirectory says what is required and why', () => {
    const err = rejection('{"storage": {"subPaths": {"/a": {"rootDirectory": "/srv/a"}}}}')
    assert.equal(err.problems.length, 1, err.message)
    assert.match(err.problems[0], /^storage\.rootDirectory: required when storage\.subPaths is set/)
    assert.doesNotMatch(err.message, /received undefined/)
    assert.deepEqual(rejection('{}').problems, ['storage: required (expected object)'])
  })

  it('a JSON error points at the line, never quoting the text (it may hold a secret key)', () => {
    const text =
      '{"storage": {"rootDirectory": "/srv",\n "storageDriver": {"secretkey": wJalrXUtnFEMI}}}'
    const err = rejection(text)
    assert.ok(!err.message.includes('wJalrXUtnFEMI'), err.message)
    assert.match(err.problems[0], /^not valid JSON: unexpected character at line 2, column 33$/)
  })
})
