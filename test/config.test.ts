// The zot-compatible configuration (DESIGN.md §5): zot's own documented examples, a plain local
// config, and every way a file can be wrong. Each failure must name its JSON path, so every
// assertion below looks for the path in the error text.
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ConfigError, parseConfig, type OutpostConfig } from '../src/config/index.js'
import { REPO_ROOT } from './helpers/harness.js'

const NOT_YET = 'not supported yet'

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

describe("zot's documented examples", () => {
  it('rejects the S3 example: dedupe, the S3 driver and the DynamoDB cache are not supported yet', async () => {
    const err = rejection(await fixture('zot-s3-example.json'))
    const expected = ['storage.dedupe', 'storage.storageDriver', 'storage.cacheDriver']
    assert.deepEqual(paths(err).sort(), [...expected].sort())
    for (const path of expected) assertProblem(err, path, NOT_YET)
  })

  it('rejects the DynamoDB example: dedupe, remoteCache and cacheDriver are not supported yet', async () => {
    const err = rejection(await fixture('zot-dynamodb-example.json'))
    const expected = ['storage.dedupe', 'storage.remoteCache', 'storage.cacheDriver']
    assert.deepEqual(paths(err).sort(), [...expected].sort())
    for (const path of expected) assertProblem(err, path, NOT_YET)
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

  it('rejects the storage example: dedupe and garbage collection are not supported yet', async () => {
    const err = rejection(await fixture('zot-storage-example.json'))
    const expected = ['storage.dedupe', 'storage.gc', 'storage.gcDelay', 'storage.gcInterval']
    assert.deepEqual(paths(err).sort(), [...expected].sort())
    for (const path of expected) assertProblem(err, path, NOT_YET)
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
        uploadExpiryMs: 90 * 60_000,
      },
      http: { address: '127.0.0.1', port: 5000, shutdownTimeoutMs: 90 * 60_000 },
      log: { level: 'info' },
    } satisfies OutpostConfig)
  })

  it('fills in defaults around a bare rootDirectory, which must never be created', () => {
    const resolved = parseConfig('{"storage": {"rootDirectory": "/srv/registry"}}')
    assert.deepEqual(resolved, {
      storage: {
        rootDirectory: '/srv/registry',
        commit: false,
        createRoot: false,
        uploadExpiryMs: 24 * 3_600_000,
      },
      http: { address: '127.0.0.1', port: 5000, shutdownTimeoutMs: 30_000 },
      log: { level: 'info' },
    })
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
        { gc: false, dedupe: false, remoteCache: false, subPaths: {} },
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
      [config({ gc: true }), 'storage.gc'],
      [config({ dedupe: true }), 'storage.dedupe'],
      [config({ gcDelay: '1h' }), 'storage.gcDelay'],
      [config({ gcInterval: '24h' }), 'storage.gcInterval'],
      [config({ subPaths: { '/a': { rootDirectory: '/tmp/zot1' } } }), 'storage.subPaths'],
      [
        config({ storageDriver: { name: 's3', bucket: 'b', region: 'r' } }),
        'storage.storageDriver',
      ],
      [config({ cacheDriver: { name: 'dynamodb' } }), 'storage.cacheDriver'],
      [config({ remoteCache: true }), 'storage.remoteCache'],
      [config({}, { http: { tls: { cert: '/c.pem', key: '/k.pem' } } }), 'http.tls'],
      [config({}, { http: { auth: { htpasswd: { path: '/h' } } } }), 'http.auth'],
      [config({}, { http: { accessControl: {} } }), 'http.accessControl'],
      [
        config({}, { extensions: { scrub: { enable: true, interval: '24h' } } }),
        'extensions.scrub',
      ],
      // zot turns an extension on when its object is present without "enable".
      [config({}, { extensions: { scrub: { interval: '24h' } } }), 'extensions.scrub'],
      [config({}, { extensions: { sync: { enable: true } } }), 'extensions.sync'],
      [config({}, { log: { output: '/var/log/zot.log' } }), 'log.output'],
    ]
    for (const [text, path] of cases) {
      const err = rejection(text)
      assert.deepEqual(paths(err), [path])
      assertProblem(err, path, NOT_YET)
    }
  })
})

describe('durations', () => {
  const parsers = {
    uploadExpiry: (v: string) => parseConfig(config({ uploadExpiry: v })).storage.uploadExpiryMs,
    shutdownTimeout: (v: string) =>
      parseConfig(config({}, { http: { shutdownTimeout: v } })).http.shutdownTimeoutMs,
  }
  const ms = (key: keyof typeof parsers, value: string) => parsers[key](value)

  it('accepts Go durations for uploadExpiry and shutdownTimeout', () => {
    for (const key of ['uploadExpiry', 'shutdownTimeout'] as const) {
      assert.equal(ms(key, '90m'), 5_400_000)
      assert.equal(ms(key, '1h30m'), 5_400_000)
      assert.equal(ms(key, '1.5h'), 5_400_000)
      assert.equal(ms(key, '45s'), 45_000)
      assert.equal(ms(key, '2m30s500ms'), 150_500)
    }
    assert.equal(ms('shutdownTimeout', '0'), 0)
    assert.equal(ms('shutdownTimeout', '250ms'), 250)
  })

  it('rejects text that is not a Go duration, naming the key', () => {
    for (const bad of ['90', '1d', 'h', '1h30', '', '-5m', '90 m', 'ninety minutes', 90]) {
      assertProblem(rejection(config({ uploadExpiry: bad })), 'storage.uploadExpiry', '')
      const err = rejection(config({}, { http: { shutdownTimeout: bad } }))
      assertProblem(err, 'http.shutdownTimeout', typeof bad === 'number' ? 'string' : 'Go duration')
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
    assert.equal(ms('uploadExpiry', '1s'), 1000)
  })
})
