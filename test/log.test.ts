// Gentle on an SD card: the default level writes no line per successful read, audit lines go to
// zot's log.audit file (whatever the level) or follow the level, and a burst of identical
// warnings is written once plus a count.
import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { describe, it } from 'node:test'
import { parseConfig } from '../src/config/index.js'
import { createApp } from '../src/http/index.js'
import { createLogger, type Level } from '../src/log/logger.js'
import type { LogClock } from '../src/log/repeats.js'
import { inMemoryRegistry, makeImage, pushImage, scratchDirs, sha256 } from './helpers/harness.js'
import { serveProcess } from './helpers/ops.js'

const dir = scratchDirs()

/** A clock moved by hand; timers run when it passes their time. */
function manualClock(start = 1_700_000_000_000) {
  let now = start
  const timers: Array<{ at: number; fn: () => void }> = []
  const clock: LogClock = {
    now: () => now,
    setTimeout: (fn, ms) => void timers.push({ at: now + ms, fn }),
  }
  const advance = (ms: number) => {
    now += ms
    for (const t of timers.filter((t) => t.at <= now)) {
      timers.splice(timers.indexOf(t), 1)
      t.fn()
    }
  }
  return { clock, advance, pending: () => timers.length }
}

function capture(level: Level = 'info', extra: Parameters<typeof createLogger>[0] = {}) {
  const lines: string[] = []
  const logger = createLogger({ level, journal: false, write: (l) => lines.push(l), ...extra })
  const parsed = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>)
  return { logger, lines, parsed }
}

describe('identical warnings in a burst', () => {
  it('are written once, then one summary with the count when the window ends', () => {
    const { clock, advance, pending } = manualClock()
    const { logger, parsed } = capture('info', { clock, repeatWindowMs: 10_000 })
    for (let i = 0; i < 500; i++) {
      logger.warn('upstream unreachable', { upstream: 'r.example' })
      advance(10) // 5 s in all: inside the window
    }
    assert.deepEqual(
      parsed().map((l) => [l.level, l.msg, l.upstream, l.suppressed]),
      [['warn', 'upstream unreachable', 'r.example', undefined]],
    )
    // The window ends with nothing more logged: the timer writes the summary.
    advance(5_000)
    assert.deepEqual(
      parsed().map((l) => [l.msg, l.upstream, l.suppressed]),
      [
        ['upstream unreachable', 'r.example', undefined],
        ['upstream unreachable', 'r.example', 499],
      ],
    )
    assert.equal(pending(), 0)
    // Still repeating after the window: a new burst, its first line written again.
    logger.warn('upstream unreachable', { upstream: 'r.example' })
    assert.equal(parsed().length, 3)
    assert.equal(parsed()[2].suppressed, undefined)
  })

  it('a steady stream costs at most two lines per window', () => {
    const { clock, advance } = manualClock()
    const { logger, lines } = capture('info', { clock, repeatWindowMs: 10_000 })
    // 60 s of one warning every 100 ms: 600 warnings.
    for (let i = 0; i < 600; i++) {
      logger.warn('request body stalled: connection closed', { route: '/v2/<name>/blobs' })
      advance(100)
    }
    advance(10_000) // the last window's summary
    assert.ok(lines.length <= 2 * 7, `${lines.length} lines`)
    // A line stands for one warning, a summary for the ones it counts.
    const counted = lines
      .map((l) => JSON.parse(l) as { suppressed?: number })
      .reduce((n, l) => n + (l.suppressed ?? 1), 0)
    assert.equal(counted, 600, 'every warning is a line or part of a count')
  })

  it('only identical ones: other fields, other messages, errors and info are all written', () => {
    const { clock } = manualClock()
    const { logger, parsed } = capture('info', { clock })
    logger.warn('stalled', { route: 'a' })
    logger.warn('stalled', { route: 'b' })
    logger.warn('stalled', { route: 'a' })
    logger.warn('other')
    for (let i = 0; i < 3; i++) logger.error('failed', { route: 'a' })
    for (let i = 0; i < 3; i++) logger.info('request', { route: 'a' })
    assert.deepEqual(
      parsed().map((l) => [l.msg, l.route]),
      [
        ['stalled', 'a'],
        ['stalled', 'b'],
        ['other', undefined],
        ...Array(3).fill(['failed', 'a']),
        ...Array(3).fill(['request', 'a']),
      ],
    )
  })

  it('warnings below the level are neither written nor counted', () => {
    const { clock, advance } = manualClock()
    const { logger, lines } = capture('error', { clock })
    for (let i = 0; i < 10; i++) logger.warn('quiet')
    advance(60_000)
    assert.deepEqual(lines, [])
  })
})

describe('audit lines', () => {
  it('go to the audit file whatever the level, and not to the main output', () => {
    const audit: string[] = []
    const { logger, lines } = capture('error', { audit: (l) => audit.push(l) })
    logger.audit({ user: 'alice', method: 'PUT', path: '/v2/a/manifests/v1', status: 201 })
    assert.deepEqual(lines, [])
    assert.equal(audit.length, 1)
    assert.ok(audit[0].endsWith('\n'))
    const line = JSON.parse(audit[0])
    assert.deepEqual(
      [line.msg, line.level, line.user, line.status],
      ['audit', 'info', 'alice', 201],
    )
  })

  it('without an audit file they follow the level like any info line', () => {
    const info = capture('info')
    info.logger.audit({ user: 'bob' })
    assert.deepEqual(
      info.parsed().map((l) => [l.msg, l.user]),
      [['audit', 'bob']],
    )
    const warn = capture('warn')
    warn.logger.audit({ user: 'bob' })
    assert.deepEqual(warn.lines, [])
  })
})

describe('request lines', () => {
  it('at the default level: writes and failures are logged, successful reads are not', async () => {
    const reg = await inMemoryRegistry()
    try {
      const { logger, parsed } = capture('info')
      const app = createApp({ registry: reg.storage.registry, logger })
      const request = (path: string, init?: RequestInit) => Promise.resolve(app.request(path, init))
      const image = makeImage('quiet')
      assert.equal((await pushImage(request, 'team/app', image, 'v1')).status, 201)
      const writes = parsed().filter((l) => l.msg === 'request')
      assert.ok(writes.length >= 3, 'uploads and the manifest PUT are logged')
      assert.ok(writes.every((l) => l.method !== 'GET' && l.method !== 'HEAD'))
      const before = parsed().length
      for (let i = 0; i < 20; i++) {
        assert.equal((await request('/v2/team/app/manifests/v1')).status, 200)
        const head = await request(`/v2/team/app/blobs/${sha256('absent')}`, { method: 'HEAD' })
        assert.equal(head.status, 404)
        assert.equal((await request('/v2/team/app/tags/list')).status, 200)
      }
      const reads = parsed().slice(before)
      // Only the 20 failed HEADs: a read that failed still says so.
      assert.deepEqual(
        reads.map((l) => [l.level, l.method, l.status]),
        Array(20).fill(['info', 'HEAD', 404]),
      )
    } finally {
      await reg.close()
    }
  })

  it('at debug every request is logged, successful reads at debug', async () => {
    const reg = await inMemoryRegistry()
    try {
      const { logger, parsed } = capture('debug')
      const app = createApp({ registry: reg.storage.registry, logger })
      const request = (path: string, init?: RequestInit) => Promise.resolve(app.request(path, init))
      assert.equal((await pushImage(request, 'team/app', makeImage('loud'), 'v1')).status, 201)
      assert.equal((await request('/v2/team/app/manifests/v1')).status, 200)
      const get = parsed().filter((l) => l.msg === 'request' && l.method === 'GET')
      assert.deepEqual(
        get.map((l) => [l.level, l.route, l.status]),
        [['debug', '/v2/<name>/manifests/<reference>', 200]],
      )
      assert.equal(typeof get[0].bytes, 'number')
    } finally {
      await reg.close()
    }
  })
})

describe('outpost serve with log.audit', () => {
  it('config: log.audit is a path, resolved like the other paths; log.output is not supported yet', () => {
    const text = (log: object) => JSON.stringify({ storage: { rootDirectory: '/srv/r' }, log })
    assert.deepEqual(parseConfig(text({ audit: 'audit.log' })).log, {
      level: 'info',
      audit: resolve('audit.log'),
    })
    assert.deepEqual(parseConfig(text({ level: 'warn' })).log, { level: 'warn' })
    assert.throws(() => parseConfig(text({ audit: '' })), /log\.audit/)
    assert.throws(() => parseConfig(text({ output: '/var/log/x' })), /not supported yet/)
  })

  it('appends audit lines to the file, not to stdout', async () => {
    const root = await dir('outpost-audit-')
    const auditPath = join(root, 'audit.log')
    await writeFile(auditPath, '{"msg":"earlier line"}\n')
    const file = join(root, 'config.json')
    const config = {
      storage: { rootDirectory: root },
      http: { port: 0 },
      log: { audit: auditPath },
    }
    await writeFile(file, JSON.stringify(config))
    const server = await serveProcess(file)
    try {
      const request = (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, init)
      assert.equal((await pushImage(request, 'team/app', makeImage('file'), 'v1')).status, 201)
      assert.equal((await request('/v2/team/app/manifests/v1')).status, 200)
      const del = await request('/v2/team/app/manifests/v1', { method: 'DELETE' })
      assert.equal(del.status, 202)
    } finally {
      server.process.kill('SIGTERM')
      assert.equal(await server.exited, 0)
    }
    const lines = (await readFile(auditPath, 'utf8')).trim().split('\n')
    assert.equal(lines[0], '{"msg":"earlier line"}', 'appended, not truncated')
    const audits = lines.slice(1).map((l) => JSON.parse(l))
    assert.deepEqual(
      audits.map((a) => [a.msg, a.method, a.status]),
      [
        ['audit', 'POST', 201],
        ['audit', 'POST', 201],
        ['audit', 'PUT', 201],
        ['audit', 'DELETE', 202],
      ],
    )
    const stdout = server.output()
    assert.doesNotMatch(stdout, /"msg":"audit"/)
    // Writes are still on stdout as request lines; the successful GET is not.
    assert.match(stdout, /"msg":"request","method":"PUT"/)
    assert.doesNotMatch(stdout, /"msg":"request","method":"GET"/)
  })

  it('a log.audit that cannot be opened stops the start with a clear error', async () => {
    const root = await dir('outpost-audit-bad-')
    const file = join(root, 'config.json')
    const auditPath = join(root, 'no-such-dir', 'audit.log')
    const config = {
      storage: { rootDirectory: root },
      http: { port: 0 },
      log: { audit: auditPath },
    }
    await writeFile(file, JSON.stringify(config))
    await assert.rejects(serveProcess(file), (err: Error) => {
      assert.match(err.message, /cannot open log\.audit .*no-such-dir.*ENOENT/)
      return true
    })
  })
})
