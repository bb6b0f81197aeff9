// Logs under systemd: with $JOURNAL_STREAM set each JSON line starts with its syslog priority
// ("<6>" info, "<4>" warn, "<3>" error, "<7>" debug) so `journalctl -p warning` filters; without
// it lines are plain JSON. One audit line per mutating request, naming the user (test/log.test.ts:
// where audit lines go).
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { createApp } from '../src/http/index.js'
import { createLogger } from '../src/log/logger.js'
import { inMemoryRegistry, makeImage, pushImage, scratchDirs } from './helpers/harness.js'
import { serveProcess } from './helpers/ops.js'

const dir = scratchDirs()

describe('journald priorities and audit lines', () => {
  it('prefixes each line with its priority only when asked', () => {
    const lines: string[] = []
    const journal = createLogger({ level: 'debug', journal: true, write: (l) => lines.push(l) })
    journal.log('debug', 'd')
    journal.info('i')
    journal.warn('w')
    journal.error('e')
    assert.deepEqual(
      lines.map((l) => l.slice(0, 3)),
      ['<7>', '<6>', '<4>', '<3>'],
    )
    assert.equal(JSON.parse(lines[2].slice(3)).msg, 'w')
    const plain: string[] = []
    createLogger({ journal: false, write: (l) => plain.push(l) }).warn('w')
    assert.equal(plain[0][0], '{')
  })

  it('outpost serve prefixes lines when $JOURNAL_STREAM is set, and only then', async () => {
    const root = await dir('outpost-journal-')
    const file = join(root, 'config.json')
    await writeFile(file, JSON.stringify({ storage: { rootDirectory: root }, http: { port: 0 } }))
    for (const stream of ['8:12345', undefined]) {
      const server = await serveProcess(file, { JOURNAL_STREAM: stream })
      server.process.kill('SIGTERM')
      assert.equal(await server.exited, 0)
      const lines = server.output().trim().split('\n')
      for (const line of lines) {
        if (stream) assert.match(line, /^<[3467]>\{/, line)
        else assert.match(line, /^\{/, line)
      }
      if (stream) assert.ok(lines.some((l) => l.startsWith('<6>{') && l.includes('"listening"')))
    }
  })

  it('writes one audit line per mutating request, with the user, to the audit file at any level', async () => {
    const reg = await inMemoryRegistry()
    try {
      const lines: string[] = []
      const logger = createLogger({
        level: 'error',
        journal: false,
        write: () => assert.fail('nothing reaches the main output at level error'),
        audit: (l) => lines.push(l),
      })
      const app = createApp({ registry: reg.storage.registry, logger })
      const request = (path: string, init?: RequestInit) => Promise.resolve(app.request(path, init))
      const image = makeImage('audit')
      assert.equal((await pushImage(request, 'team/app', image, 'v1')).status, 201)
      assert.equal((await request('/v2/team/app/manifests/v1')).status, 200)
      assert.equal((await request('/v2/team/app/manifests/v1', { method: 'DELETE' })).status, 202)
      const audits = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'audit')
      assert.deepEqual(
        audits.map((a) => [a.method, a.path, a.status, a.user]),
        [
          ['POST', '/v2/team/app/blobs/uploads/', 201, 'anonymous'],
          ['POST', '/v2/team/app/blobs/uploads/', 201, 'anonymous'],
          ['PUT', '/v2/team/app/manifests/v1', 201, 'anonymous'],
          ['DELETE', '/v2/team/app/manifests/v1', 202, 'anonymous'],
        ],
      )
    } finally {
      await reg.close()
    }
  })
})
