// The S3 driver against s3rver: the shared conformance suite, then what only S3 shows — multipart
// uploads in bounded memory, aborted uploads that leave no parts, an endpoint that is down or
// silent, the AWS credential chain, and zot's storageDriver attributes taking their effect.
import assert from 'node:assert/strict'
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { after, before, describe, it } from 'node:test'
import { HeadObjectCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3'
import { createLogger } from '../src/log/logger.js'
import {
  APPEND_UNSUPPORTED,
  DEFAULT_CHUNK_SIZE,
  MIN_CHUNK_SIZE,
  resolveS3Settings,
  S3Driver,
  s3StorageDriverSchema,
} from '../src/storage/s3/index.js'
import { openDriver, StorageNotFoundError } from '../src/storage/index.js'
import { driverConformance } from './helpers/driver-conformance.js'
import { haveCommand, removeDir, tempDir } from './helpers/harness.js'
import {
  rawClient,
  S3RVER_KEY,
  s3rverDriverConfig,
  selfSignedCert,
  startS3rver,
  type S3Server,
} from './helpers/s3.js'

const MiB = 1024 * 1024
/** For tests that would hang if the driver did: fail instead. */
const T = { timeout: 30_000 }
setFlagsFromString('--expose-gc')
const collectGarbage = runInNewContext('gc') as () => void
const reason = (await haveCommand('openssl')) ? false : 'needs openssl (Debian package openssl)'
let server: S3Server
const drivers: S3Driver[] = []
const dirs: string[] = []

before(async () => {
  server = await startS3rver()
})
after(async () => {
  for (const d of drivers) d.close()
  await server.stop()
  for (const dir of dirs) await removeDir(dir)
})

type Overrides = Partial<ReturnType<typeof resolveS3Settings>['client']>

/** A driver on `target` under a fresh rootdirectory, so cases never see each other's keys. */
function makeDriver(
  extra: Record<string, unknown> = {},
  target: S3Server = server,
  client: Overrides = {},
): S3Driver {
  const settings = resolveS3Settings(
    s3rverDriverConfig(target, { rootdirectory: `/t/${randomUUID()}/`, ...extra }),
  )
  const driver = new S3Driver({ ...settings, client: { ...settings.client, ...client } })
  drivers.push(driver)
  return driver
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** `total` pseudo-random bytes in 256 KiB chunks, each allocated as it is read. */
function generated(total: number, hash = createHash('sha256')): Readable {
  const template = randomBytes(256 * 1024)
  // One chunk read ahead (Readable.from defaults to 16), so the source adds little to RSS.
  return Readable.from(
    (function* () {
      for (let at = 0; at < total; at += template.length) {
        const chunk = Buffer.from(template.subarray(0, Math.min(template.length, total - at)))
        chunk.writeUInt32BE(at / template.length, 0)
        hash.update(chunk)
        yield chunk
      }
    })(),
    { highWaterMark: 1 },
  )
}

/** Requests to one object since `from`, named by S3 operation. */
function operations(key: string, from: number): string[] {
  return server.requests.slice(from).flatMap((r) => {
    if (!r.path.endsWith(`/${key}`)) return []
    const q = new Set(r.query)
    if (r.method === 'POST' && q.has('uploads')) return ['CreateMultipartUpload']
    if (r.method === 'PUT' && q.has('partNumber')) return ['UploadPart']
    if (r.method === 'POST' && q.has('uploadId')) return ['CompleteMultipartUpload']
    if (r.method === 'DELETE' && q.has('uploadId')) return ['AbortMultipartUpload']
    if (r.method === 'PUT') return [r.headers['x-amz-copy-source'] ? 'CopyObject' : 'PutObject']
    return [`${r.method}`]
  })
}

async function pendingUploads(): Promise<string[]> {
  const client = rawClient(server)
  try {
    const out = await client.send(new ListMultipartUploadsCommand({ Bucket: server.bucket }))
    return (out.Uploads ?? []).map((u) => u.Key ?? '')
  } finally {
    client.destroy()
  }
}

async function waitFor(what: string, condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 10))
  assert.ok(condition(), `timed out waiting for ${what}`)
}

// S3 has no hard links and no append (uploads stage on local disk), and no free-space figure.
driverConformance('s3 (s3rver)', async () => openDriver(makeDriver()), {
  appends: false,
  link: false,
  refer: true,
  copy: true,
  space: false,
  checkWritable: false,
})

describe('s3 driver: streaming', () => {
  it(
    'a 64 MiB write goes up in 5 MiB parts, RSS stays bounded, reads back identical',
    T,
    async (t) => {
      const d = makeDriver({ chunksize: 5 * MiB })
      const key = 'big/blob'
      const from = server.requests.length
      const written = createHash('sha256')
      // A first, small multipart upload warms the code paths, so the measure is of the data. V8
      // frees Buffer memory lazily (tens of MiB of garbage may wait for a collection), so the
      // sampler collects before it samples: what it sees is what is held.
      await d.write('big/warm-up', generated(11 * MiB))
      collectGarbage()
      const baseline = process.memoryUsage().rss
      let peak = baseline
      const sampler = setInterval(() => {
        collectGarbage()
        peak = Math.max(peak, process.memoryUsage().rss)
      }, 20)
      let n: number
      try {
        n = await d.write(key, generated(64 * MiB, written))
      } finally {
        clearInterval(sampler)
      }
      assert.equal(n, 64 * MiB)
      const growth = (peak - baseline) / MiB
      t.diagnostic(`RSS growth while writing 64 MiB: ${growth.toFixed(1)} MiB`)
      assert.ok(growth < 48, `RSS grew ${growth.toFixed(1)} MiB while writing 64 MiB`)
      const ops = operations(key, from)
      assert.deepEqual(
        [...new Set(ops)],
        ['CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload'],
      )
      assert.equal(ops.filter((o) => o === 'UploadPart').length, Math.ceil(64 / 5))
      assert.equal((await d.stat(key))?.size, 64 * MiB)
      // Read back whole, keeping the 20 bytes around the first part boundary for the range check.
      const read = createHash('sha256')
      const boundary = { start: 5 * MiB - 10, end: 5 * MiB + 9 }
      const expected = Buffer.alloc(20)
      let offset = 0
      for await (const chunk of await d.read(key)) {
        const buf = chunk as Buffer
        read.update(buf)
        const lo = Math.max(boundary.start, offset)
        const hi = Math.min(boundary.end + 1, offset + buf.length)
        if (lo < hi) buf.copy(expected, lo - boundary.start, lo - offset, hi - offset)
        offset += buf.length
      }
      assert.equal(read.digest('hex'), written.digest('hex'))
      const range = await collect(await d.read(key, { range: boundary }))
      assert.ok(range.equals(expected), 'a range across a part boundary')
    },
  )

  it('ranged reads return exactly the inclusive bytes asked for', async () => {
    const d = makeDriver()
    const bytes = randomBytes(100_000)
    await d.put('r/obj', bytes)
    for (const [start, end] of [
      [0, 0], // s3rver answers this one with the whole object: the driver cuts it down
      [0, 99_999],
      [1, 65_536],
      [65_535, 65_537],
      [99_999, 99_999],
    ]) {
      const got = await collect(await d.read('r/obj', { range: { start, end } }))
      assert.ok(got.equals(bytes.subarray(start, end + 1)), `range ${start}-${end}`)
    }
    const seen = server.requests.filter((r) => r.headers.range === 'bytes=65535-65537')
    assert.equal(seen.length, 1, 'a range is sent as an S3 Range header')
  })

  it('a read aborted mid-stream stops with an AbortError', T, async () => {
    const d = makeDriver()
    await d.write('ra/obj', generated(8 * MiB))
    const controller = new AbortController()
    const stream = await d.read('ra/obj', { signal: controller.signal })
    const consume = (async () => {
      for await (const _ of stream) controller.abort()
    })()
    await assert.rejects(consume, { name: 'AbortError' })
    assert.ok(stream.destroyed)
  })

  it('an aborted multipart write leaves no object and no pending upload', T, async () => {
    const d = makeDriver({ chunksize: 5 * MiB })
    const key = 'ab/multipart'
    const from = server.requests.length
    const controller = new AbortController()
    const source = new Readable({ read() {} })
    for (let i = 0; i < 12; i++) source.push(randomBytes(MiB)) // two parts and then some, no end
    const pending = d.write(key, source, { signal: controller.signal })
    await waitFor('a part upload', () => operations(key, from).includes('UploadPart'))
    controller.abort()
    await assert.rejects(pending, { name: 'AbortError' })
    assert.ok(source.destroyed, 'the source is released')
    assert.ok(operations(key, from).includes('AbortMultipartUpload'))
    assert.ok(!operations(key, from).includes('CompleteMultipartUpload'))
    assert.equal(await d.stat(key), null)
    assert.deepEqual(await pendingUploads(), [])
  })

  it(
    'a source failing mid-upload aborts the multipart upload and keeps the old object',
    T,
    async () => {
      const d = makeDriver({ chunksize: 5 * MiB })
      await d.put('sf/obj', Buffer.from('old'))
      const source = Readable.from(
        (function* () {
          for (let i = 0; i < 11; i++) yield randomBytes(MiB)
          throw new Error('client went away')
        })(),
      )
      await assert.rejects(d.write('sf/obj', source), /client went away/)
      assert.equal((await d.get('sf/obj')).toString(), 'old')
      assert.deepEqual(await pendingUploads(), [])
    },
  )

  it('append writes are refused: upload sessions stage on local disk', async () => {
    const d = makeDriver()
    await assert.rejects(
      d.write('ap/obj', Readable.from([Buffer.from('x')]), { append: true }),
      (err: Error) => err.message === APPEND_UNSUPPORTED,
    )
    assert.equal(await d.stat('ap/obj'), null)
  })

  it('lists across pages, skipping the subtree of a nested child', async () => {
    const d = new S3Driver({ ...resolveS3Settings(s3rverDriverConfig(server)), listPageSize: 2 })
    drivers.push(d)
    const root = `pg${randomUUID().slice(0, 8)}`
    const keys = ['a', 'b/1', 'b/2', 'b/3', 'b/4', 'c', 'd/x/y', 'e']
    for (const k of keys) await d.put(`${root}/${k}`, Buffer.from(k))
    const from = server.requests.length
    const entries = []
    for await (const e of d.list(root)) entries.push(`${e.name}${e.isPrefix ? '/' : ''}`)
    assert.deepEqual(entries, ['a', 'b/', 'c', 'd/', 'e'])
    const listings = server.requests.slice(from).filter((r) => r.query.includes('list-type'))
    assert.ok(listings.length < keys.length / 2 + 1, `${listings.length} pages for ${keys.length}`)
    await d.deletePrefix(root)
    const none = []
    for await (const e of d.list(root)) none.push(e)
    assert.deepEqual(none, [])
  })

  it('a move onto itself keeps the object (S3 cannot copy an object onto itself)', async () => {
    const d = makeDriver()
    await d.put('self/obj', Buffer.from('me'))
    await d.move('self/obj', 'self/obj')
    assert.equal((await d.get('self/obj')).toString(), 'me')
    await assert.rejects(d.move('self/none', 'self/none'), StorageNotFoundError)
  })

  it('rootdirectory prefixes every key in the bucket', async () => {
    const d = new S3Driver(
      resolveS3Settings(s3rverDriverConfig(server, { rootdirectory: '/zot/' })),
    )
    drivers.push(d)
    await d.put('repo/index.json', Buffer.from('{}'))
    const client = rawClient(server)
    try {
      const head = await client.send(
        new HeadObjectCommand({ Bucket: server.bucket, Key: 'zot/repo/index.json' }),
      )
      assert.equal(head.ContentLength, 2)
    } finally {
      client.destroy()
    }
    await assert.rejects(d.get('zot/repo/index.json'), StorageNotFoundError)
  })
})

describe('s3 driver: failures', () => {
  it(
    'with the endpoint down every operation fails promptly; a write in flight fails too',
    T,
    async () => {
      const down = await startS3rver()
      const fast = { maxAttempts: 2 }
      const d = makeDriver({ chunksize: 5 * MiB }, down, fast)
      await d.put('x/obj', Buffer.from('x'))
      const source = new Readable({ read() {} })
      const writing = d.write('x/big', source)
      // It may fail while the endpoint is being stopped, before assert.rejects below listens.
      writing.catch(() => {})
      source.push(randomBytes(6 * MiB))
      await waitFor('a part upload', () =>
        down.requests.some((r) => r.query.includes('partNumber')),
      )
      await down.stop()
      source.push(randomBytes(6 * MiB))
      const started = Date.now()
      await assert.rejects(writing)
      await assert.rejects(d.get('x/obj'), (err: Error) => !(err instanceof StorageNotFoundError))
      await assert.rejects(d.stat('x/obj'))
      await assert.rejects(d.put('x/obj', Buffer.from('y')))
      await assert.rejects(d.read('x/obj'))
      await assert.rejects(d.move('x/obj', 'x/moved'))
      await assert.rejects(d.delete('x/obj'))
      await assert.rejects(
        (async () => {
          for await (const _ of d.list('x')) void _
        })(),
      )
      assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`)
    },
  )

  it('a silent endpoint times out instead of hanging', T, async () => {
    const sockets: Socket[] = []
    const silent = createServer((s) => sockets.push(s)) // accepts, never answers
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r))
    const port = (silent.address() as { port: number }).port
    try {
      const fake = { ...server, endpoint: `http://127.0.0.1:${port}` }
      const d = makeDriver({}, fake, {
        maxAttempts: 1,
        requestHandler: { connectionTimeout: 1000, socketTimeout: 1000 },
      })
      const started = Date.now()
      await assert.rejects(d.stat('any/key'), { name: 'TimeoutError' })
      assert.ok(Date.now() - started < 5000)
    } finally {
      for (const s of sockets) s.destroy()
      silent.close()
    }
  })
})

describe('s3 driver: credentials from the AWS chain', () => {
  const VARS = [
    'AWS_ACCESS_KEY_ID',
    'AWS_SECRET_ACCESS_KEY',
    'AWS_SESSION_TOKEN',
    'AWS_PROFILE',
    'AWS_SHARED_CREDENTIALS_FILE',
    'AWS_CONFIG_FILE',
  ]
  async function withEnv(vars: Record<string, string>, body: () => Promise<void>) {
    const saved = VARS.map((v) => [v, process.env[v]] as const)
    for (const v of VARS) delete process.env[v]
    Object.assign(process.env, vars)
    try {
      await body()
    } finally {
      for (const [v, value] of saved) {
        if (value === undefined) delete process.env[v]
        else process.env[v] = value
      }
    }
  }
  const keyless = () => makeDriver({ accesskey: undefined, secretkey: undefined })

  it('AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are used when the config has no keys', async () => {
    const dir = await tempDir()
    dirs.push(dir)
    const none = { AWS_CONFIG_FILE: join(dir, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'x') }
    await withEnv(
      { ...none, AWS_ACCESS_KEY_ID: S3RVER_KEY, AWS_SECRET_ACCESS_KEY: S3RVER_KEY },
      async () => {
        const d = keyless()
        await d.put('env/obj', Buffer.from('env'))
        assert.equal((await d.get('env/obj')).toString(), 'env')
      },
    )
    await withEnv(
      { ...none, AWS_ACCESS_KEY_ID: 'WRONG', AWS_SECRET_ACCESS_KEY: 'WRONG' },
      async () => {
        await assert.rejects(
          keyless().put('env/obj', Buffer.from('x')),
          /InvalidAccessKeyId|access key/i,
        )
      },
    )
  })

  it('a shared credentials file with AWS_PROFILE selects that profile', async () => {
    const dir = await tempDir()
    dirs.push(dir)
    const file = join(dir, 'credentials')
    await writeFile(
      file,
      '[default]\naws_access_key_id = WRONG\naws_secret_access_key = WRONG\n\n' +
        `[outpost-test]\naws_access_key_id = ${S3RVER_KEY}\naws_secret_access_key = ${S3RVER_KEY}\n`,
    )
    const env = { AWS_SHARED_CREDENTIALS_FILE: file, AWS_CONFIG_FILE: join(dir, 'config') }
    await withEnv({ ...env, AWS_PROFILE: 'outpost-test' }, async () => {
      const d = keyless()
      await d.put('ini/obj', Buffer.from('ini'))
      assert.equal((await d.get('ini/obj')).toString(), 'ini')
    })
    await withEnv(env, async () => {
      await assert.rejects(
        keyless().put('ini/obj', Buffer.from('x')),
        /InvalidAccessKeyId|access key/i,
      )
    })
  })
})

describe('s3 driver: storageDriver attributes on the wire', () => {
  it('storageclass, objectacl and encrypt/keyid go with every object-creating request', async () => {
    const d = makeDriver({
      chunksize: 5 * MiB,
      storageclass: 'REDUCED_REDUNDANCY',
      objectacl: 'public-read',
      encrypt: true,
      keyid: 'outpost-key',
    })
    const from = server.requests.length
    await d.put('wp/small', Buffer.from('x'))
    await d.write('wp/streamed', Readable.from([Buffer.from('y')]))
    await d.write('wp/multipart', generated(6 * MiB))
    await d.move('wp/small', 'wp/moved')
    const creating = server.requests
      .slice(from)
      .filter(
        (r) =>
          (r.method === 'PUT' && !r.query.includes('partNumber')) ||
          (r.method === 'POST' && r.query.includes('uploads')),
      )
    // One creating request per object; an SDK retry under load may repeat one, never skip one.
    const objects = new Set(creating.map((r) => r.path).filter((path) => path.includes('/wp/')))
    assert.equal(objects.size, 4, [...objects].join(', '))
    for (const r of creating.filter((req) => req.path.includes('/wp/'))) {
      assert.equal(r.headers['x-amz-storage-class'], 'REDUCED_REDUNDANCY', r.path)
      assert.equal(r.headers['x-amz-acl'], 'public-read', r.path)
      assert.equal(r.headers['x-amz-server-side-encryption'], 'aws:kms', r.path)
      assert.equal(r.headers['x-amz-server-side-encryption-aws-kms-key-id'], 'outpost-key')
    }
  })

  it('useragent is sent; loglevel debug writes the SDK log through the given logger', async () => {
    const lines: string[] = []
    const logger = createLogger({ level: 'debug', write: (l) => lines.push(l) })
    const settings = resolveS3Settings(
      s3rverDriverConfig(server, { useragent: 'outpost-ua-test/1.2', loglevel: 'debug' }),
      { logger },
    )
    assert.deepEqual(settings.warnings, [])
    const d = new S3Driver(settings)
    drivers.push(d)
    const from = server.requests.length
    await d.put(`ua/${randomUUID()}`, Buffer.from('x'))
    const ua = server.requests.slice(from).map((r) => r.headers['user-agent'] ?? '')
    assert.ok(
      ua.some((u) => u.includes('outpost-ua-test/1.2')),
      ua.join(' | '),
    )
    assert.ok(lines.some((l) => JSON.parse(l).msg === 's3 client' && l.includes('PutObject')))
  })

  it(
    'skipverify accepts a self-signed certificate that is refused otherwise',
    { skip: reason },
    async () => {
      const dir = await tempDir()
      dirs.push(dir)
      const tlsServer = await startS3rver({ tls: await selfSignedCert(dir) })
      try {
        const strict = makeDriver({}, tlsServer, { maxAttempts: 1 })
        await assert.rejects(strict.put('tls/obj', Buffer.from('x')), /self[- ]signed/i)
        const lax = makeDriver({ skipverify: true }, tlsServer)
        await lax.put('tls/obj', Buffer.from('tls'))
        assert.equal((await lax.get('tls/obj')).toString(), 'tls')
      } finally {
        await tlsServer.stop()
      }
    },
  )
})

describe('s3 storageDriver options', () => {
  const base = { name: 's3', region: 'us-east-2', bucket: 'zot-storage' }
  const resolve = (extra: Record<string, unknown> = {}) => resolveS3Settings({ ...base, ...extra })

  it("the seed's example loads; rootdirectory loses its slashes; defaults apply", () => {
    const s = resolve({ rootdirectory: '/zot', secure: true, skipverify: false })
    assert.equal(s.bucket, 'zot-storage')
    assert.equal(s.prefix, 'zot')
    assert.equal(s.client.region, 'us-east-2')
    assert.equal(s.client.forcePathStyle, true)
    assert.equal(s.client.tls, true)
    assert.equal(s.client.endpoint, undefined)
    assert.equal(s.client.credentials, undefined, 'no keys: the SDK credential chain')
    assert.equal(s.client.requestChecksumCalculation, 'WHEN_REQUIRED')
    assert.equal(s.client.responseChecksumValidation, 'WHEN_REQUIRED')
    assert.equal(s.partSize, DEFAULT_CHUNK_SIZE)
    assert.equal(s.queueSize, 2)
    assert.deepEqual(s.write, {})
    assert.deepEqual(s.warnings, [])
    assert.equal(resolve({ rootdirectory: '/a/b/' }).prefix, 'a/b')
    assert.equal(resolve({ rootdirectory: '/' }).prefix, '')
  })

  it('regionendpoint without a scheme takes https, or http when secure is false', () => {
    assert.equal(resolve({ regionendpoint: 'minio:9000' }).client.endpoint, 'https://minio:9000')
    assert.equal(
      resolve({ regionendpoint: 'minio:9000', secure: false }).client.endpoint,
      'http://minio:9000',
    )
    const explicit = resolve({ regionendpoint: 'http://minio:9000', secure: true })
    assert.equal(explicit.client.endpoint, 'http://minio:9000')
    assert.match(explicit.warnings.join(), /secure=true ignored/)
    assert.equal(resolve({ secure: false }).client.tls, false)
  })

  it('forcepathstyle defaults to true; accelerate needs virtual-hosted style', () => {
    assert.equal(resolve({ forcepathstyle: false }).client.forcePathStyle, false)
    const acc = resolve({ accelerate: true })
    assert.equal(acc.client.useAccelerateEndpoint, true)
    assert.equal(acc.client.forcePathStyle, false)
    assert.match(
      resolve({ accelerate: true, forcepathstyle: true }).warnings.join(),
      /forcepathstyle/,
    )
    const custom = resolve({ accelerate: true, usedualstack: true, regionendpoint: 'h:1' })
    assert.equal(custom.client.useAccelerateEndpoint, false)
    assert.equal(custom.client.useDualstackEndpoint, false)
    assert.equal(custom.warnings.length, 2)
    assert.equal(resolve({ usedualstack: true }).client.useDualstackEndpoint, true)
  })

  it('chunksize is a byte count of at least 5 MiB', () => {
    assert.equal(resolve({ chunksize: 5 * MiB }).partSize, MIN_CHUNK_SIZE)
    assert.equal(resolve({ chunksize: '20971520' }).partSize, 20 * MiB)
    assert.throws(() => resolve({ chunksize: 5 * MiB - 1 }), /chunksize must be at least 5 MiB/)
    assert.throws(() => resolve({ chunksize: '10MB' }), /byte count/)
  })

  it('warns for what cannot take effect: v4auth false, multipartcopy*, keyid without encrypt', () => {
    const s = resolve({
      v4auth: false,
      multipartcopychunksize: 32 * MiB,
      multipartcopymaxconcurrency: 100,
      multipartcopythresholdsize: '33554432',
      keyid: 'k',
    })
    const text = s.warnings.join('\n')
    for (const name of [
      'v4auth=false',
      'multipartcopychunksize',
      'multipartcopymaxconcurrency',
      'multipartcopythresholdsize',
      'keyid ignored',
    ]) {
      assert.ok(text.includes(name), `${name} in ${text}`)
    }
    assert.match(text, /CopyObject/)
    assert.equal(resolve({ v4auth: true }).warnings.length, 0)
    assert.match(
      resolve({ loglevel: 'debugwithsigning' }).warnings.join(),
      /no logger|logs as debug/,
    )
  })

  it('write parameters: storageclass, objectacl, encrypt with and without keyid', () => {
    assert.deepEqual(resolve({ encrypt: true }).write, { ServerSideEncryption: 'AES256' })
    assert.deepEqual(resolve({ encrypt: true, keyid: 'arn:k' }).write, {
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: 'arn:k',
    })
    assert.deepEqual(resolve({ storageclass: 'STANDARD_IA', objectacl: 'private' }).write, {
      StorageClass: 'STANDARD_IA',
      ACL: 'private',
    })
    assert.deepEqual(resolve({ storageclass: 'NONE' }).write, {})
  })

  it('client parameters: keys, useragent, skipverify', () => {
    const s = resolve({ accesskey: 'AK', secretkey: 'SK', useragent: 'ua/1', skipverify: true })
    assert.deepEqual(s.client.credentials, { accessKeyId: 'AK', secretAccessKey: 'SK' })
    assert.equal(s.client.customUserAgent, 'ua/1')
    const handler = s.client.requestHandler as {
      httpsAgent?: { options: { rejectUnauthorized?: boolean } }
    }
    assert.equal(handler.httpsAgent?.options.rejectUnauthorized, false)
  })

  it('the schema is strict and names what is wrong', () => {
    assert.throws(() => resolve({ regionEndpoint: 'x' }), /regionEndpoint/)
    assert.throws(() => resolve({ accesskey: 'AK' }), /accesskey and secretkey go together/)
    assert.throws(() => resolve({ name: 'gcs' }))
    assert.throws(() => resolveS3Settings({ name: 's3', bucket: 'b' }), /region/)
    assert.throws(() => resolve({ storageclass: 'COLD' }), /storageclass/)
    assert.throws(() => resolve({ rootdirectory: '/a/../b' }), /rootdirectory|slash path/)
    assert.ok(
      s3StorageDriverSchema.safeParse({ ...base, loglevel: 'debug,debugwithhttpbody' }).success,
    )
    assert.ok(!s3StorageDriverSchema.safeParse({ ...base, loglevel: 'verbose' }).success)
  })
})
