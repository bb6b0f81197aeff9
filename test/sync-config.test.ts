// extensions.sync in zot's shape (zot: pkg/extensions/config/sync, pkg/cli/server/root.go
// validateSync*): zot's own example, an on-demand registry with every key that loads today, the
// edge mirror example, and each combination zot (or Outpost) refuses, named by its JSON path in
// one line. Periodic registries (a pollInterval) load now that the mirror runs them
// (PERIODIC_SYNC_SUPPORTED); their rules are checked through registryProblems.
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ConfigError, parseConfig } from '../src/config/index.js'
import {
  PERIODIC_SYNC_SUPPORTED,
  registryProblems,
  retryDelayFor,
  type RawRegistry,
  type UpstreamSettings,
} from '../src/config/sync.js'
import { REPO_ROOT } from './helpers/harness.js'

const NOT_YET = 'not supported yet'
const URL = 'https://r.example'

function fixture(name: string): Promise<string> {
  return readFile(join(REPO_ROOT, 'test/fixtures', name), 'utf8')
}

/** A config whose extensions.sync is `sync`, as JSON text. */
function withSync(sync: Record<string, unknown>): string {
  return JSON.stringify({ storage: { rootDirectory: '/srv/registry' }, extensions: { sync } })
}

/** A config with one registry: on demand at URL, plus `fields`. */
function registry(fields: Record<string, unknown>): string {
  return withSync({ registries: [{ urls: [URL], onDemand: true, ...fields }] })
}

function problems(text: string): string[] {
  try {
    parseConfig(text, 'test.json')
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`)
    for (const p of err.problems) assert.ok(!p.includes('\n'), `not one line: ${p}`)
    return err.problems
  }
  assert.fail(`expected ${text} to be rejected`)
}

const REG = 'extensions.sync.registries.0'

describe("zot's example sync configuration and Outpost's", () => {
  it("loads zot's examples/config-sync.json whole, onlySigned included", async () => {
    assert.equal(PERIODIC_SYNC_SUPPORTED, true)
    // Its periodic registries (0, 1, 3) load, and registry 0's onlySigned (signatures.ts).
    const sync = parseConfig(await fixture('zot-sync-example.json')).sync
    assert.deepEqual(
      sync?.registries.map((r) => r.onlySigned),
      [true, false, false, false],
    )
  })

  it('loads an on-demand registry with every other key, resolved to numbers', async () => {
    const sync = parseConfig(await fixture('sync-on-demand.json')).sync
    assert.ok(sync)
    assert.equal(sync.maxBandwidth, 2_000_000)
    assert.deepEqual(sync.window, { start: 22 * 60, end: 5 * 60 })
    assert.equal(sync.maxSizeBytes, 20e9)
    assert.match(
      sync.warnings?.[0] ?? '',
      /downloadDir is unused: blobs stream straight into the store/,
    )
    // maxBandwidth and window act on the periodic mirror: with none, a warning says so.
    assert.equal(sync.warnings?.length, 3)
    const [r] = sync.registries
    const expected: UpstreamSettings = {
      urls: ['https://registry-1.docker.io', 'https://mirror.gcr.io'],
      onDemand: true,
      tlsVerify: true,
      certDir: '/etc/outpost/certs.d/docker.io',
      content: [
        {
          prefix: 'library/**',
          destination: '/hub',
          stripPrefix: true,
          tags: { regex: '^3\\.', excludeRegex: '-rc', semver: true },
        },
        {
          prefix: 'grafana/{loki,promtail}',
          destination: '/',
          stripPrefix: false,
          platforms: [{ os: 'linux', architecture: 'arm64' }],
        },
      ],
      maxRetries: 12,
      retryDelayMs: 500,
      maxRetryDelayMs: 30_000,
      onlySigned: false,
      syncLegacyCosignTags: false,
      referrers: false,
      tagRecheckMs: 5 * 60_000,
      syncTimeoutMs: 10 * 60_000,
      maxIdleConnsPerHost: 8,
    }
    assert.deepEqual(r, expected)
  })

  it('fills in the defaults: 3 retries 5m apart, 60s tag recheck, 3h syncTimeout, referrers on', () => {
    const sync = parseConfig(registry({})).sync
    const [r] = sync!.registries
    assert.deepEqual(
      [r.maxRetries, r.retryDelayMs, r.maxRetryDelayMs, r.tagRecheckMs, r.syncTimeoutMs],
      [3, 300_000, 300_000, 60_000, 3 * 3_600_000],
    )
    assert.deepEqual([r.referrers, r.syncLegacyCosignTags, r.onlySigned], [true, true, false])
    assert.deepEqual(r.content, [{ prefix: '**', destination: '/', stripPrefix: false }])
    assert.deepEqual(sync!.warnings, [])
  })

  it('loads the edge example (arm64, signatures, night window, cap) as a periodic mirror', async () => {
    const sync = parseConfig(await fixture('sync-edge-mirror.json')).sync!
    assert.equal(sync.maxBandwidth, 2_000_000)
    assert.deepEqual(sync.window, { start: 60, end: 300 })
    assert.deepEqual(sync.warnings, [])
    const [r] = sync.registries
    assert.equal(r.onDemand, false)
    assert.equal(r.pollIntervalMs, 6 * 3_600_000)
    assert.equal(r.referrers, true)
    assert.deepEqual(r.content[0].platforms, [
      { os: 'linux', architecture: 'arm64' },
      { os: 'linux', architecture: 'arm', variant: 'v7' },
    ])
  })

  it('refuses a registry that is neither on demand nor periodic, naming pollInterval', () => {
    assert.deepEqual(problems(withSync({ registries: [{ urls: [URL] }] })), [
      `${REG}.pollInterval: required when onDemand is not true: this registry would sync nothing`,
    ])
  })

  it('accepts platforms on an on-demand registry, and on one both on demand and periodic', () => {
    const content = [{ prefix: '**', platforms: ['linux/arm64', 'linux/arm/v7'] }]
    for (const fields of [{ content }, { content, pollInterval: '1h' }]) {
      const r = parseConfig(registry(fields)).sync!.registries[0]
      assert.equal(r.onDemand, true)
      assert.deepEqual(r.content[0].platforms, [
        { os: 'linux', architecture: 'arm64' },
        { os: 'linux', architecture: 'arm', variant: 'v7' },
      ])
    }
  })

  it('accepts tagRecheckInterval (Outpost) and manifestCheckInterval (zot) for the same setting', () => {
    for (const key of ['tagRecheckInterval', 'manifestCheckInterval']) {
      const r = parseConfig(registry({ [key]: '90s' })).sync!.registries[0]
      assert.equal(r.tagRecheckMs, 90_000, key)
    }
  })

  it('has no cap on maxRetries (the old limit was 10)', () => {
    const r = parseConfig(registry({ maxRetries: 1000, retryDelay: '1s' })).sync!.registries[0]
    assert.equal(r.maxRetries, 1000)
  })
})

describe('extensions.sync: each invalid combination names its path in one line', () => {
  const cases: Array<[string, string, string]> = [
    // [config, path, text the problem contains]
    [
      withSync({ registries: [{ urls: [URL] }] }),
      `${REG}.pollInterval`,
      'required when onDemand is not true',
    ],
    [
      withSync({ registries: [{ urls: [URL], onDemand: false }] }),
      `${REG}.pollInterval`,
      'this registry would sync nothing',
    ],
    // A registry both on demand and periodic mirrors what its content rules name.
    [
      registry({ pollInterval: '1h' }),
      `${REG}.content`,
      'required with pollInterval: the repositories to mirror',
    ],
    [
      registry({ maxRetries: 5 }),
      `${REG}.retryDelay`,
      'retryDelay is required when using maxRetries',
    ],
    [
      registry({ maxRetryDelay: '1m' }),
      `${REG}.retryDelay`,
      'retryDelay is required when using maxRetryDelay',
    ],
    [
      registry({ retryDelay: '1m', maxRetryDelay: '30s' }),
      `${REG}.maxRetryDelay`,
      'maxRetryDelay must be greater than or equal to retryDelay',
    ],
    [
      registry({ manifestCheckInterval: '1m', tagRecheckInterval: '1m' }),
      `${REG}.tagRecheckInterval`,
      'give only one of them',
    ],
    [
      registry({ content: [{ prefix: 'library/alpine', stripPrefix: true }] }),
      `${REG}.content.0.stripPrefix`,
      "can not use stripPrefix true and destination '/' without using glob patterns in prefix",
    ],
    [
      registry({ content: [{ prefix: 'library/alpine', destination: '/', stripPrefix: true }] }),
      `${REG}.content.0.stripPrefix`,
      'without using glob patterns',
    ],
    [
      registry({ content: [{ prefix: 'a/[bc' }] }),
      `${REG}.content.0.prefix`,
      'sync prefix could not be compiled',
    ],
    [registry({ content: [{ prefix: 'a/{b,c' }] }), `${REG}.content.0.prefix`, 'unclosed "{"'],
    [
      registry({ content: [{ prefix: '**', tags: { regex: '(' } }] }),
      `${REG}.content.0.tags.regex`,
      'regex could not be compiled',
    ],
    [
      registry({ content: [{ prefix: '**', tags: { excludeRegex: 'a)' } }] }),
      `${REG}.content.0.tags.excludeRegex`,
      'regex could not be compiled',
    ],
    [
      registry({ content: [{ prefix: '**', tags: { regex: '' } }] }),
      `${REG}.content.0.tags.regex`,
      'an empty regex keeps no tag',
    ],
    [
      registry({ content: [{ prefix: '**', tags: { latest: true } }] }),
      `${REG}.content.0.tags.latest`,
      'unknown key',
    ],
    [
      registry({ content: [{ prefix: '**', platforms: ['linux/amr64'] }] }),
      `${REG}.content.0.platforms.0`,
      'unknown architecture "amr64"',
    ],
    [
      registry({ content: [{ prefix: '**', platforms: ['arm64'] }] }),
      `${REG}.content.0.platforms.0`,
      'expected "os/arch" or "os/arch/variant"',
    ],
    [
      registry({ content: [{ prefix: '**', platforms: ['linux/arm/v7/x'] }] }),
      `${REG}.content.0.platforms.0`,
      'expected "os/arch"',
    ],
    [
      registry({ content: [{ prefix: '**', platforms: ['plan10/arm64'] }] }),
      `${REG}.content.0.platforms.0`,
      'unknown os "plan10"',
    ],
    [
      registry({ content: [{ prefix: '**', platforms: [] }] }),
      `${REG}.content.0.platforms`,
      'at least one platform',
    ],
    [
      registry({ reqConcurrent: 0 }),
      `${REG}.reqConcurrent`,
      'reqConcurrent must be greater than 0',
    ],
    [
      registry({ reqPerSec: -1 }),
      `${REG}.reqPerSec`,
      'reqPerSec must be a finite value greater than 0',
    ],
    [registry({ maxIdleConnsPerHost: 0 }), `${REG}.maxIdleConnsPerHost`, 'greater than 0'],
    [registry({ onlySigned: 'yes' }), `${REG}.onlySigned`, 'expected boolean'],
    [
      registry({ credentialHelper: 'ecr' }),
      `${REG}.credentialHelper`,
      `credentialHelper is ${NOT_YET}`,
    ],
    [registry({ oauth2CredentialHelper: {} }), `${REG}.oauth2CredentialHelper`, NOT_YET],
    [registry({ syncTimeout: '0' }), `${REG}.syncTimeout`, 'expected a duration above 0'],
    [registry({ referrers: 'yes' }), `${REG}.referrers`, 'expected boolean'],
    [
      withSync({ maxBandwidth: '2MB' }),
      'extensions.sync.maxBandwidth',
      'expected a rate such as "8MB/s"',
    ],
    [
      withSync({ maxBandwidth: '0MB/s' }),
      'extensions.sync.maxBandwidth',
      'expected a rate above 0',
    ],
    [
      withSync({ window: '1:00-5:00' }),
      'extensions.sync.window',
      'expected local times such as "01:00-05:00"',
    ],
    [withSync({ window: '24:00-05:00' }), 'extensions.sync.window', 'expected local times'],
  ]
  for (const [text, path, expected] of cases) {
    it(`${path}: ${expected}`, () => {
      const found = problems(text)
      assert.deepEqual(
        found.map((p) => p.slice(0, p.indexOf(': '))),
        [path],
        found.join('\n'),
      )
      assert.ok(found[0].includes(expected), `${found[0]} should say "${expected}"`)
    })
  }
})

describe('the rules periodic registries run under', () => {
  const check = (r: Partial<RawRegistry>) =>
    registryProblems({ urls: [URL], ...r }).map((p) => `${p.path.join('.')}: ${p.message}`)

  it('loads periodic, on-demand, and both at once', () => {
    assert.deepEqual(check({ pollInterval: '6h', content: [{ prefix: '**' }] }), [])
    assert.deepEqual(check({ onDemand: true }), [])
    assert.deepEqual(
      check({ onDemand: true, pollInterval: '6h', content: [{ prefix: 'a/**' }] }),
      [],
    )
  })

  it('refuses a registry that would sync nothing, which zot skips without a word', () => {
    assert.deepEqual(check({}), [
      'pollInterval: required when onDemand is not true: this registry would sync nothing',
    ])
    assert.deepEqual(check({ pollInterval: '6h' }), [
      'content: required with pollInterval: the repositories to mirror',
    ])
  })

  it("keeps zot's manifestCheckInterval-needs-onDemand rule", () => {
    assert.deepEqual(
      check({ pollInterval: '6h', content: [{ prefix: '**' }], manifestCheckInterval: '1m' }),
      ['manifestCheckInterval: manifestCheckInterval requires onDemand to be enabled'],
    )
  })

  it('accepts platforms on a periodic registry', () => {
    const content = [{ prefix: '**', platforms: ['linux/arm64'] }]
    assert.deepEqual(check({ pollInterval: '1h', content }), [])
  })
})

describe('retryDelayFor: zot retryDelay, doubling up to maxRetryDelay', () => {
  const base = { retryDelayMs: 1000, maxRetryDelayMs: 1000 } as UpstreamSettings
  it('is fixed when maxRetryDelay is unset (equal to retryDelay)', () => {
    assert.deepEqual(
      [1, 2, 5, 100].map((n) => retryDelayFor(base, n)),
      [1000, 1000, 1000, 1000],
    )
  })
  it('doubles from retryDelay and stops at maxRetryDelay', () => {
    const s = { ...base, maxRetryDelayMs: 10_000 }
    assert.deepEqual(
      [1, 2, 3, 4, 5, 60, 2000].map((n) => retryDelayFor(s, n)),
      [1000, 2000, 4000, 8000, 10_000, 10_000, 10_000],
    )
  })
})
