// The shared wrapper every driver is opened through (src/storage/checked-driver.ts): key checks
// in one place (drivers no longer check keys themselves, so the wrapper is what keeps `../x` out
// of the root), uniform errors (a backend that cannot be used is StorageUnavailableError naming
// it), per-operation timing read from BackendHealth, capabilities passed through exactly, the
// written `openFile` capability the HTTP layer's sendFile reads through, and the rule that only
// the composition root (src/server/backends.ts) constructs drivers.
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join, relative, resolve } from 'node:path'
import { Readable } from 'node:stream'
import { describe, it } from 'node:test'
import { FsDriver } from '../src/storage/fs/index.js'
import { S3Driver } from '../src/storage/s3/index.js'
import { ReadOnlyDriver } from '../src/storage/read-only/read-only-driver.js'
import {
  can,
  capabilitiesOf,
  fileSourceOf,
  openDriver,
  StorageKeyError,
  StorageNotFoundError,
  StorageUnavailableError,
  watchHealth,
  type StorageDriver,
} from '../src/storage/index.js'
import { scratchDirs } from './helpers/harness.js'

const dir = scratchDirs()

/** `driver` with every method call it receives counted by name. */
function counted(driver: StorageDriver): { driver: StorageDriver; calls: string[] } {
  const calls: string[] = []
  const proxy = new Proxy(driver, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver)
      if (typeof value !== 'function' || name === 'unavailable') return value
      return (...args: unknown[]) => {
        calls.push(String(name))
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
  return { driver: proxy, calls }
}

const BAD_KEYS = ['../x', 'a/../../x', '/abs', 'a//b', '', 'a/./b', 'a\\b', 'a\0b']

describe('the shared driver wrapper', () => {
  it('rejects bad keys before a driver that does not check them sees them', async () => {
    const root = join(await dir(), 'root')
    // The fs driver joins keys to its root as they come: unwrapped, `../x` lands beside it.
    const raw = new FsDriver({ root, commit: false })
    await raw.put('../escaped', Buffer.from('x'))
    assert.ok(existsSync(join(root, '../escaped')), 'the driver itself does not check keys')

    const { driver: inner, calls } = counted(new FsDriver({ root, commit: false }))
    const d = openDriver(inner)
    await d.put('ok/k', Buffer.from('v'))
    calls.length = 0
    for (const key of BAD_KEYS) {
      const bytes = () => Readable.from([Buffer.from('x')])
      await assert.rejects(d.put(key, Buffer.from('x')), StorageKeyError, key)
      await assert.rejects(d.get(key), StorageKeyError, key)
      await assert.rejects(d.read(key), StorageKeyError, key)
      await assert.rejects(d.write(key, bytes()), StorageKeyError, key)
      await assert.rejects(d.stat(key), StorageKeyError, key)
      await assert.rejects(d.delete(key), StorageKeyError, key)
      await assert.rejects(d.deletePrefix(key), StorageKeyError, key)
      await assert.rejects(d.prune(key), StorageKeyError, key)
      await assert.rejects(d.move('ok/k', key), StorageKeyError, key)
      await assert.rejects(d.move(key, 'ok/k'), StorageKeyError, key)
      await assert.rejects(d.link!('ok/k', key), StorageKeyError, key)
      await assert.rejects(d.openFile!(key), StorageKeyError, key)
      if (key !== '')
        await assert.rejects(d.list(key)[Symbol.asyncIterator]().next(), StorageKeyError)
    }
    assert.deepEqual(calls, [], 'no bad key reached the driver')
    assert.equal(existsSync(join(root, '../x')), false)
    // The root itself lists ('' is the one prefix that is not a key).
    const names = []
    for await (const e of d.list('')) names.push(e.name)
    assert.deepEqual(names, ['_outpost', 'ok'])
  })

  it('checks keys of the read-only view and of refer and copy too', async () => {
    const root = await dir()
    const view = openDriver(
      new ReadOnlyDriver(openDriver(new FsDriver({ root, commit: false })), { source: root }),
    )
    await assert.rejects(view.get('../x'), StorageKeyError)
    assert.throws(() => view.checkWritable!('../x'), StorageKeyError)
    const { driver: inner, calls } = counted(
      new S3Driver({ bucket: 'b', prefix: '', client: { region: 'us-east-1' }, write: {} }),
    )
    const s3 = openDriver(inner)
    await assert.rejects(s3.refer!('a/b', '../x'), StorageKeyError)
    await assert.rejects(s3.copy!('../x', 'a/b'), StorageKeyError)
    assert.deepEqual(calls, [])
    ;(inner as S3Driver).close()
  })

  it('makes a backend that cannot be used StorageUnavailableError naming it, and times each call', async () => {
    // A port that refuses connections: the S3 endpoint is down.
    const port = await new Promise<number>((done) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number }
        server.close(() => done(port))
      })
    })
    const s3 = new S3Driver({
      bucket: 'b',
      prefix: '',
      client: {
        region: 'us-east-1',
        endpoint: `http://127.0.0.1:${port}`,
        forcePathStyle: true,
        credentials: { accessKeyId: 'k', secretAccessKey: 's' },
        maxAttempts: 1,
      },
      write: {},
    })
    try {
      const { driver, health } = watchHealth(s3)
      const err = await driver.get('a/b').catch((e: unknown) => e)
      assert.ok(err instanceof StorageUnavailableError, String(err))
      assert.match(
        err.message,
        new RegExp(
          `^storage backend s3 \\(bucket b at http://127\\.0\\.0\\.1:${port}\\) unreachable: ECONNREFUSED`,
        ),
      )
      assert.equal(err.backend, s3.label)
      const get = health.timings().get!
      assert.equal(get.calls, 1)
      assert.equal(get.failures, 1)
      assert.ok(get.seconds >= 0)
      const report = await health.report()
      assert.equal(report.healthy, false)
    } finally {
      s3.close()
    }
  })

  it('counts absence as an answer, not a failure, per operation', async () => {
    const root = await dir()
    const { driver, health } = watchHealth(new FsDriver({ root, commit: false }))
    await driver.put('r/a', Buffer.from('1'))
    await driver.put('r/b', Buffer.from('2'))
    assert.equal(await driver.stat('r/none'), null)
    await assert.rejects(driver.get('r/none'), StorageNotFoundError)
    for await (const _ of driver.list('r')) break // stopped early: still one listing
    const t = health.timings()
    assert.deepEqual(
      Object.fromEntries(Object.entries(t).map(([op, v]) => [op, [v!.calls, v!.failures]])),
      { put: [2, 0], stat: [1, 0], get: [1, 0], list: [1, 0] },
    )
    assert.equal((await health.report()).healthy, true)
  })

  it('passes capabilities through exactly: present where the driver has them, absent where not', async () => {
    const root = await dir()
    const fs = openDriver(new FsDriver({ root, commit: false }))
    assert.deepEqual(capabilitiesOf(fs), [
      'link',
      'appends',
      'space',
      'unavailable',
      'probe',
      'localRoot',
      'openFile',
    ])
    const s3Raw = new S3Driver({
      bucket: 'b',
      prefix: '',
      client: { region: 'us-east-1' },
      write: {},
    })
    const s3 = openDriver(s3Raw)
    assert.deepEqual(capabilitiesOf(s3), ['refer', 'copy', 'unavailable', 'probe'])
    assert.equal(can(s3, 'appends'), false)
    s3Raw.close()
    const view = openDriver(new ReadOnlyDriver(fs, { source: root }))
    assert.deepEqual(capabilitiesOf(view), ['checkWritable', 'openFile'])
    assert.equal(fs.label, `local (${root})`)
  })
})

describe('the openFile capability', () => {
  it('a local object is read as a stream that hands its file over until read from', async () => {
    const root = await dir()
    await writeFile(join(root, 'blob'), '0123456789')
    const fs = openDriver(new FsDriver({ root, commit: false }))
    const source = await fs.openFile!('blob', { range: { start: 2, end: 5 } })
    const buf = Buffer.alloc(4)
    await source.handle.read(buf, 0, 4, source.start)
    assert.equal(buf.toString(), '2345')
    assert.equal(source.end, 5)
    await source.handle.close()

    // Through a read-only view too, as hosted directories are served.
    const view = openDriver(new ReadOnlyDriver(fs, { source: root, mountAt: 'usb' }))
    for (const [d, key] of [
      [fs, 'blob'],
      [view, 'usb/blob'],
    ] as const) {
      const stream = await d.read(key, { range: { start: 1, end: 3 } })
      const file = fileSourceOf(stream)
      assert.ok(file, key)
      assert.deepEqual([file.start, file.end], [1, 3])
      const chunks: Buffer[] = []
      for await (const c of stream) chunks.push(c as Buffer)
      assert.equal(Buffer.concat(chunks).toString(), '123')
      assert.equal(fileSourceOf(stream), undefined, 'a stream read from is no file to take over')
    }
    await assert.rejects(fs.openFile!('none'), StorageNotFoundError)
    await assert.rejects(view.openFile!('elsewhere/blob'), StorageNotFoundError)
  })
})

describe('driver construction', () => {
  it('only the composition root (src/server/backends.ts) constructs drivers, all through openDriver', () => {
    const src = resolve(import.meta.dirname, '../src')
    const found: string[] = []
    for (const rel of readdirSync(src, { recursive: true }) as string[]) {
      if (!rel.endsWith('.ts')) continue
      const text = readFileSync(join(src, rel), 'utf8')
      for (const m of text.matchAll(/new ([A-Z][A-Za-z0-9]*Driver)\(/g)) {
        found.push(`${relative(src, join(src, rel))}: ${m[1]}`)
      }
    }
    assert.deepEqual(found.sort(), [
      'server/backends.ts: FsDriver',
      'server/backends.ts: ReadOnlyDriver',
      'server/backends.ts: S3Driver',
      'storage/checked-driver.ts: CheckedDriver',
    ])
  })
})
