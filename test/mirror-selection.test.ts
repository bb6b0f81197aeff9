// The pure selection the periodic mirror and pull-through share (src/upstream/content-map.ts,
// src/upstream/mirror-selection.ts): zot's prefix/destination/stripPrefix name map in both
// directions, zot's tag filters (regex, excludeRegex, Masterminds semver), and Outpost's
// platform choice among an index's children. Tables of cases; no I/O.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { ContentRule } from '../src/config/sync.js'
import { isSemverTag } from '../src/config/sync-grammar.js'
import { localName, mapUpstream, upstreamName } from '../src/upstream/content-map.js'
import {
  platformsOf,
  referrerTagKind,
  selectChildren,
  selectRepositories,
  selectTags,
  tagServed,
  type IndexChild,
} from '../src/upstream/mirror-selection.js'

const rule = (
  prefix: string,
  destination = '/',
  stripPrefix = false,
  more: Partial<ContentRule> = {},
) => ({ prefix, destination, stripPrefix, ...more }) as ContentRule

describe('content rules: upstream name <-> local name', () => {
  // [rule, upstream, local (undefined: not covered)]
  const cases: Array<[ContentRule, string, string | undefined]> = [
    [rule('**'), 'library/alpine', 'library/alpine'],
    [rule('library/**'), 'library/alpine', 'library/alpine'],
    [rule('library/**'), 'grafana/loki', undefined],
    [rule('library/**', '/hub'), 'library/alpine', 'hub/library/alpine'],
    [rule('library/**', '/hub', true), 'library/alpine', 'hub/alpine'],
    [rule('library/**', '/hub', true), 'library/a/b', 'hub/a/b'],
    [rule('library/**', '/', true), 'library/alpine', 'alpine'],
    [rule('repo2/repo', '/repo', true), 'repo2/repo', 'repo'],
    [rule('repo1/repo'), 'repo1/repo', 'repo1/repo'],
    [rule('repo1/repo'), 'repo1/repo/x', undefined],
    [rule('a/*/c', '/m', true), 'a/b/c', 'm/b/c'],
    [rule('a/*'), 'a/b/c', undefined],
    [rule('grafana/{loki,promtail}'), 'grafana/promtail', 'grafana/promtail'],
    [rule('grafana/{loki,promtail}'), 'grafana/tempo', undefined],
    [rule('team-[ab]/**', '/t'), 'team-b/x', 't/team-b/x'],
    // zot drops a leading "/" of the prefix.
    [rule('/repo3/**'), 'repo3/x', 'repo3/x'],
    // zot's trim of "/*" would give "ine"; Outpost keeps both directions consistent.
    [rule('library/alp*', '/hub', true), 'library/alpine', 'hub/alpine'],
  ]
  for (const [r, upstream, local] of cases) {
    it(`${JSON.stringify(r)}: ${upstream} -> ${local}`, () => {
      assert.equal(localName(r, upstream), local)
      if (local) assert.equal(upstreamName(r, local), upstream, 'the reverse map agrees')
    })
  }

  it('a local name outside the destination maps to nothing', () => {
    assert.equal(upstreamName(rule('library/**', '/hub', true), 'other/alpine'), undefined)
    assert.equal(upstreamName(rule('library/**', '/hub'), 'hub/grafana/loki'), undefined)
  })

  it('the first rule whose prefix matches wins, as in zot', () => {
    const rules = [rule('library/**', '/hub', true), rule('**', '/all')]
    assert.deepEqual(mapUpstream(rules, 'library/alpine')?.local, 'hub/alpine')
    assert.deepEqual(mapUpstream(rules, 'grafana/loki')?.local, 'all/grafana/loki')
  })

  it('lists catalog repositories the rules cover, or the fixed prefixes without a catalog', () => {
    const rules = [rule('library/alpine', '/hub'), rule('grafana/**')]
    const picked = selectRepositories(rules, ['library/alpine', 'library/debian', 'grafana/loki'])
    assert.deepEqual(
      picked.map((p) => [p.upstream, p.local]),
      [
        ['library/alpine', 'hub/library/alpine'],
        ['grafana/loki', 'grafana/loki'],
      ],
    )
    assert.deepEqual(
      selectRepositories(rules, undefined).map((p) => p.local),
      ['hub/library/alpine'],
    )
  })
})

describe("zot's tag filters", () => {
  const TAGS = [
    'latest',
    '1',
    'v1.2',
    '1.2.3',
    '4.0.1',
    '4.1-rc.1',
    '3.9-alpine',
    'x-amd64',
    'x-arm64',
    '1.2.3.4',
  ]
  const sig = `sha256-${'a'.repeat(64)}.sig`
  const ref = `sha256-${'b'.repeat(64)}`
  // [tags filter, tags kept]
  const cases: Array<[ContentRule['tags'], string[]]> = [
    [undefined, TAGS],
    [{ regex: '4.*', semver: true }, ['4.0.1', '4.1-rc.1']],
    // zot's regex is unanchored, as Go's MatchString is: "4.*" also hits "1.2.3.4".
    [{ regex: '4.*', semver: false }, ['4.0.1', '4.1-rc.1', 'x-amd64', 'x-arm64', '1.2.3.4']],
    [
      { excludeRegex: '.*-(amd64|arm64)$', semver: false },
      TAGS.filter((t) => !/-(amd|arm)64$/.test(t)),
    ],
    [{ semver: true }, ['1', 'v1.2', '1.2.3', '4.0.1', '4.1-rc.1', '3.9-alpine']],
    [{ regex: '^v?1', excludeRegex: '\\.3$', semver: true }, ['1', 'v1.2']],
    [{ regex: '(?i)^X-', semver: false }, ['x-amd64', 'x-arm64']],
    [{ regex: '^(?P<major>\\d+)$', semver: false }, ['1']],
  ]
  for (const [tags, kept] of cases) {
    it(`${JSON.stringify(tags)} keeps ${kept.length} tags`, () => {
      const r = rule('**', '/', false, { tags })
      assert.deepEqual(selectTags(r, [...TAGS, sig, ref]), kept)
    })
  }

  it('referrer tags go with their subject: never mirrored as images, always served on demand', () => {
    const r = rule('**', '/', false, { tags: { regex: '^v', semver: true } })
    assert.equal(referrerTagKind(sig), 'cosign')
    assert.equal(referrerTagKind(ref), 'referrers')
    assert.equal(referrerTagKind('sha256-short.sig'), undefined)
    assert.deepEqual(
      [tagServed(r, sig), tagServed(r, ref), tagServed(r, 'latest')],
      [true, true, false],
    )
    assert.equal(tagServed(r, 'v1.0.0'), true)
  })

  it('semver is Masterminds/semver v1: optional v, 1-3 numbers, pre-release, int64', () => {
    const yes = [
      '1',
      'v1',
      '1.2',
      '1.2.3',
      'v1.2.3-rc.1',
      '0.0.0',
      '1.2.3-beta-2',
      '9223372036854775807',
    ]
    const no = [
      'latest',
      '1.2.3.4',
      'v',
      '1.2.',
      'a1.2',
      '1.2.3-',
      '1..2',
      '9223372036854775808',
      'V1.2',
    ]
    for (const t of yes) assert.equal(isSemverTag(t), true, t)
    for (const t of no) assert.equal(isSemverTag(t), false, t)
  })
})

describe('platforms: the children of an index the mirror takes', () => {
  const child = (
    digest: string,
    platform?: IndexChild['platform'],
    annotations?: Record<string, string>,
  ) =>
    ({ digest, ...(platform && { platform }), ...(annotations && { annotations }) }) as IndexChild
  const INDEX: IndexChild[] = [
    child('amd64', { os: 'linux', architecture: 'amd64' }),
    child('arm64', { os: 'linux', architecture: 'arm64', variant: 'v8' }),
    child('arm64-bare', { os: 'linux', architecture: 'arm64' }),
    child('armv7', { os: 'linux', architecture: 'arm', variant: 'v7' }),
    child('armv6', { os: 'linux', architecture: 'arm', variant: 'v6' }),
    child('arm-bare', { os: 'linux', architecture: 'arm' }),
    child('win', { os: 'windows', architecture: 'amd64' }),
    child('no-platform'),
    child(
      'att-arm64',
      { os: 'unknown', architecture: 'unknown' },
      {
        'vnd.docker.reference.type': 'attestation-manifest',
        'vnd.docker.reference.digest': 'arm64',
      },
    ),
    child(
      'att-amd64',
      { os: 'unknown', architecture: 'unknown' },
      {
        'vnd.docker.reference.type': 'attestation-manifest',
        'vnd.docker.reference.digest': 'amd64',
      },
    ),
  ]
  // [platforms, referrers, digests taken]
  const cases: Array<[string[] | undefined, boolean, string[]]> = [
    [undefined, true, INDEX.map((c) => c.digest)],
    // No variant: every variant of the architecture.
    [['linux/arm64'], true, ['arm64', 'arm64-bare', 'no-platform', 'att-arm64']],
    [['linux/arm64'], false, ['arm64', 'arm64-bare', 'no-platform']],
    // A variant: that one, a child naming none counting as the default (arm64 v8, arm v7).
    [['linux/arm64/v8'], true, ['arm64', 'arm64-bare', 'no-platform', 'att-arm64']],
    [['linux/arm/v7'], true, ['armv7', 'arm-bare', 'no-platform']],
    [['linux/arm/v6'], true, ['armv6', 'no-platform']],
    [['linux/arm'], true, ['armv7', 'armv6', 'arm-bare', 'no-platform']],
    [
      ['linux/arm64', 'linux/arm/v7'],
      true,
      ['arm64', 'arm64-bare', 'armv7', 'arm-bare', 'no-platform', 'att-arm64'],
    ],
    [['linux/x86_64'], true, ['amd64', 'no-platform', 'att-amd64']],
    [['windows/amd64'], true, ['win', 'no-platform']],
    [['linux/riscv64'], true, ['no-platform']],
  ]
  for (const [platforms, referrers, taken] of cases) {
    it(`${JSON.stringify(platforms)}${referrers ? '' : ' without referrers'}: ${taken.join(', ')}`, () => {
      const chosen = selectChildren(INDEX, platforms && platformsOf(platforms), referrers)
      assert.deepEqual(
        chosen.map((c) => c.digest),
        taken,
      )
    })
  }
})
