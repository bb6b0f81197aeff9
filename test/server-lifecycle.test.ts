// A server's life in a child process (docs/architecture.md §4): health endpoints, a graceful SIGTERM that
// lets an in-flight download finish while refusing new connections, the clean-stop marker and
// lock, crash detection after SIGKILL, and one JSON log line per request on stdout.
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { Agent, request, type IncomingMessage } from 'node:http'
import { connect, createServer } from 'node:net'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { makeImage, pushImage, removeDir, REPO_ROOT, sha256, tempDir } from './helpers/harness.js'
import { logLines, serveOutpost, type ServingOutpost } from './helpers/outpost-cli.js'

const SHUTDOWN_TIMEOUT_MS = 20_000

const dirs: string[] = []
async function workDir(): Promise<string> {
  const dir = await tempDir('outpost-life-')
  dirs.push(dir)
  return dir
}
const running: ServingOutpost[] = []
after(async () => {
  for (const server of running) await server.stop('SIGKILL')
  for (const dir of dirs) await removeDir(dir)
})

/** `outpost serve` on `root` with an OS-picked port and the given shutdown timeout. */
async function serve(root: string, shutdownTimeout = `${SHUTDOWN_TIMEOUT_MS}ms`) {
  const config = join(await workDir(), 'config.json')
  await writeFile(
    config,
    JSON.stringify({
      storage: { rootDirectory: root },
      http: { address: '127.0.0.1', port: 0, shutdownTimeout },
      // Successful reads are logged at debug only (test/log.test.ts); these tests read them.
      log: { level: 'debug' },
    }),
  )
  const server = await serveOutpost([config])
  running.push(server)
  return server
}

/** Push one blob (monolithic POST) and return its digest. */
async function pushBlob(url: string, repo: string, blob: Buffer): Promise<string> {
  const digest = sha256(blob)
  const res = await fetch(`${url}/v2/${repo}/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/octet-stream' },
    body: blob,
  })
  assert.equal(res.status, 201, await res.text())
  return digest
}

/** GET a blob over a plain node:http request, handing back the response unread. The agent
 * keeps its connection open indefinitely, as Go's transport (skopeo, containerd) does for 90 s. */
function startDownload(url: string, path: string, agent?: Agent): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { agent }, resolve)
    req.once('error', reject)
    req.end()
  })
}

/** Whether a new TCP connection to `url` is refused. */
function refused(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname)
    socket.once('connect', () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'))
  })
}

describe('server lifecycle', () => {
  it('answers /livez, /readyz and /startupz with 200 while running', async () => {
    const server = await serve(await workDir())
    for (const path of ['/livez', '/readyz', '/startupz']) {
      const res = await fetch(`${server.url}${path}`)
      assert.equal(res.status, 200, path)
      assert.equal(await res.text(), 'ok')
    }
    assert.deepEqual(await server.stop('SIGTERM'), { code: 0, signal: null })
  })

  it('on SIGTERM finishes an in-flight download, refuses new connections, and exits 0', async (t) => {
    const root = await workDir()
    const server = await serve(root)
    const blob = randomBytes(32 << 20)
    const digest = await pushBlob(server.url, 'big/blob', blob)

    const agent = new Agent({ keepAlive: true })
    t.after(() => agent.destroy())
    const res = await startDownload(server.url, `/v2/big/blob/blobs/${digest}`, agent)
    assert.equal(res.statusCode, 200)
    const hash = createHash('sha256')
    let received = 0
    const onData = (chunk: Buffer) => {
      hash.update(chunk)
      received += chunk.length
    }
    res.on('data', onData)
    // Take one chunk, then stop reading: 32 MiB cannot sit in socket buffers, so the server is
    // still writing when the signal arrives.
    await new Promise((resolve) => res.once('data', resolve))
    res.pause()
    const signalled = Date.now()
    server.child.kill('SIGTERM')

    let closed = false
    for (let i = 0; i < 100 && !closed; i++) {
      closed = await refused(server.url)
      if (!closed) await sleep(50)
    }
    assert.ok(closed, 'new connections are still accepted after SIGTERM')
    assert.ok(received < blob.length, 'the download finished before it could be interrupted')
    assert.equal(server.child.exitCode, null, 'the server exited under an in-flight download')

    // Now read the rest, slowly.
    const done = new Promise<void>((resolve, reject) => {
      res.once('end', resolve)
      res.once('error', reject)
      res.once('aborted', () => reject(new Error('download aborted')))
    })
    res.off('data', onData)
    res.on('data', (chunk: Buffer) => {
      onData(chunk)
      res.pause()
      setTimeout(() => res.resume(), 1)
    })
    res.resume()
    await done
    const downloaded = Date.now()
    assert.equal(received, blob.length)
    assert.equal(`sha256:${hash.digest('hex')}`, digest)

    // The finished download's kept-alive connection must not hold the exit open.
    const exit = await server.exited
    assert.deepEqual(exit, { code: 0, signal: null })
    assert.ok(Date.now() - signalled < SHUTDOWN_TIMEOUT_MS, 'exit waited for the shutdown timeout')
    assert.ok(
      Date.now() - downloaded < 3000,
      `exit took ${Date.now() - downloaded} ms after the download`,
    )
    const lines = logLines(server.stdout())
    const download = lines.find((l) => l.msg === 'request' && l.method === 'GET')
    assert.equal(download?.status, 200)
    assert.equal(download?.bytes, blob.length)
    assert.ok(lines.some((l) => l.msg === 'shutting down' && l.signal === 'SIGTERM'))
    assert.equal(lines.at(-1)?.msg, 'stopped cleanly')
  })

  it('cuts a stalled download at the shutdown timeout and still exits 0', async () => {
    const server = await serve(await workDir(), '500ms')
    const digest = await pushBlob(server.url, 'stall/blob', randomBytes(16 << 20))
    const res = await startDownload(server.url, `/v2/stall/blob/blobs/${digest}`)
    res.pause() // never read
    const cut = new Promise<boolean>((resolve) => {
      res.once('aborted', () => resolve(true))
      res.once('error', () => resolve(true))
      res.once('end', () => resolve(false))
    })
    const signalled = Date.now()
    const exit = await server.stop('SIGTERM')
    assert.deepEqual(exit, { code: 0, signal: null })
    const elapsed = Date.now() - signalled
    assert.ok(elapsed >= 400, `exited after ${elapsed} ms, before the shutdown timeout`)
    assert.ok(elapsed < 10_000, `took ${elapsed} ms to exit`)
    res.resume()
    assert.equal(await cut, true, 'the stalled download should have been cut')
  })

  it('leaves _outpost/clean-stop and no lock after a clean stop', async () => {
    const root = await workDir()
    const server = await serve(root)
    const lock = JSON.parse(await readFile(join(root, '_outpost/lock'), 'utf8'))
    assert.equal(lock.pid, server.child.pid)
    assert.deepEqual(await server.stop('SIGTERM'), { code: 0, signal: null })
    assert.ok((await stat(join(root, '_outpost/clean-stop'))).isFile())
    assert.equal(await stat(join(root, '_outpost/lock')).catch(() => null), null)
    // The next start trusts the previous run.
    const next = await serve(root)
    const listening = logLines(next.stdout()).find((l) => l.msg === 'listening')
    assert.equal(listening?.cleanStart, true)
    assert.doesNotMatch(next.stdout(), /unclean shutdown/)
    assert.deepEqual(await next.stop('SIGTERM'), { code: 0, signal: null })
  })

  it('the first start on a new root is no unclean shutdown, nor on a layout without _outpost/', async () => {
    const empty = await workDir()
    const first = await serve(empty)
    assert.doesNotMatch(first.stdout(), /unclean shutdown/)
    // Nothing was verified yet, so nothing is trusted: a new epoch all the same.
    assert.equal(logLines(first.stdout()).find((l) => l.msg === 'listening')?.cleanStart, false)
    const image = makeImage('lifecycle-first', 1)
    const put = await pushImage(
      (p, init) => fetch(`${first.url}${p}`, init),
      'first/app',
      image,
      'v1',
    )
    assert.equal(put.status, 201)
    assert.deepEqual(await first.stop('SIGTERM'), { code: 0, signal: null })

    // The same repositories as another tool would leave them: the layout, no engine state.
    await removeDir(join(empty, '_outpost'))
    const again = await serve(empty)
    assert.doesNotMatch(again.stdout(), /unclean shutdown/)
    assert.equal((await fetch(`${again.url}/v2/first/app/manifests/v1`)).status, 200)
    assert.deepEqual(await again.stop('SIGTERM'), { code: 0, signal: null })
  })

  it('after SIGKILL, the next start logs the unclean shutdown and still serves every tag', async () => {
    const root = await workDir()
    const first = await serve(root)
    const image = makeImage('lifecycle-crash', 2)
    const put = await pushImage(
      (p, init) => fetch(`${first.url}${p}`, init),
      'crash/app',
      image,
      'v1',
    )
    assert.equal(put.status, 201)
    assert.deepEqual(await first.stop('SIGKILL'), { code: null, signal: 'SIGKILL' })
    assert.equal(await stat(join(root, '_outpost/clean-stop')).catch(() => null), null)

    const second = await serve(root)
    const lines = logLines(second.stdout())
    assert.ok(
      lines.some(
        (l) => l.level === 'warn' && String(l.msg).startsWith('unclean shutdown detected'),
      ),
      second.stdout(),
    )
    assert.equal(lines.find((l) => l.msg === 'listening')?.cleanStart, false)
    const res = await fetch(`${second.url}/v2/crash/app/manifests/v1`)
    assert.equal(res.status, 200)
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), image.manifest)
    const layer = await fetch(`${second.url}/v2/crash/app/blobs/${sha256(image.layers[1])}`)
    assert.deepEqual(Buffer.from(await layer.arrayBuffer()), image.layers[1])
    assert.deepEqual(await second.stop('SIGTERM'), { code: 0, signal: null })
  })
})

/** Whether this machine can listen on the IPv6 loopback (a kernel without IPv6 cannot). */
function haveIpv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer()
    probe.once('error', () => resolve(false))
    probe.listen(0, '::1', () => probe.close(() => resolve(true)))
  })
}

describe('listen address', () => {
  it('the packaged config\'s "::" serves /v2/ on IPv4 and IPv6, its URL [::]', async (t) => {
    if (!(await haveIpv6Loopback())) return t.skip('needs an IPv6 loopback (::1) on this machine')
    // The addresses the packaged config's comment tells an operator to use, as written there.
    const packaged = await readFile(join(REPO_ROOT, 'packaging/deb/config.json'), 'utf8')
    const comment = packaged.slice(0, packaged.indexOf('"address"'))
    const open = [...comment.matchAll(/"([0-9a-f.:]+)" serves the network/g)].map((m) => m[1])
    assert.match(comment, /"::" on IPv6 and\s+\/\/ IPv4 both/)
    assert.deepEqual(open, ['0.0.0.0'])
    for (const address of ['::', '0.0.0.0']) {
      const config = join(await workDir(), 'config.json')
      const root = await workDir()
      await writeFile(
        config,
        JSON.stringify({ storage: { rootDirectory: root }, http: { address, port: 0 } }),
      )
      const server = await serveOutpost([config])
      running.push(server)
      const port = new URL(server.url).port
      assert.equal(server.url, `http://${address === '::' ? '[::]' : address}:${port}`)
      // The URL the log prints is one a client can use as it stands.
      assert.equal((await fetch(`${server.url}/v2/`)).status, 200)
      assert.equal((await fetch(`http://127.0.0.1:${port}/v2/`)).status, 200)
      const v6 = await fetch(`http://[::1]:${port}/v2/`).then(
        (res) => res.status,
        (err: Error) => err.cause ?? err,
      )
      if (address === '::') assert.equal(v6, 200, 'dual-stack: IPv6 too')
      else assert.notEqual(v6, 200, '0.0.0.0 is IPv4 only')
      assert.equal((await server.stop()).code, 0)
    }
  })
})

describe('request log', () => {
  type Call = { method: string; path: string; status: number; route: string; received: number }
  let calls: Call[]
  let requests: Array<Record<string, unknown>>
  let stdout: string
  let blobDigest: string

  before(async () => {
    const server = await serve(await workDir())
    const blob = randomBytes(100_000)
    blobDigest = await pushBlob(server.url, 'logs/app', blob)
    const image = makeImage('lifecycle-log')
    await pushImage((p, init) => fetch(`${server.url}${p}`, init), 'logs/app', image, 'v1')
    const missing = `sha256:${'0'.repeat(64)}`
    const plan: Array<[string, string, number, string]> = [
      ['GET', '/v2/', 200, '/v2/'],
      ['GET', `/v2/logs/app/blobs/${blobDigest}`, 200, '/v2/<name>/blobs/<digest>'],
      ['HEAD', `/v2/logs/app/blobs/${blobDigest}`, 200, '/v2/<name>/blobs/<digest>'],
      ['GET', `/v2/logs/app/blobs/${missing}`, 404, '/v2/<name>/blobs/<digest>'],
      ['GET', '/v2/logs/app/manifests/v1', 200, '/v2/<name>/manifests/<reference>'],
      ['GET', '/v2/logs/app/manifests/nope', 404, '/v2/<name>/manifests/<reference>'],
      ['GET', '/v2/logs/app/tags/list', 200, '/v2/<name>/tags/list'],
      ['GET', '/v2/_catalog', 200, '/v2/_catalog'],
      ['GET', '/livez', 200, '/livez'],
    ]
    calls = []
    for (const [method, path, status, route] of plan) {
      const res = await fetch(`${server.url}${path}`, { method })
      const received = (await res.arrayBuffer()).byteLength
      assert.equal(res.status, status, `${method} ${path}`)
      calls.push({ method, path, status, route, received })
    }
    assert.deepEqual(await server.stop('SIGTERM'), { code: 0, signal: null })
    stdout = server.stdout()
    requests = logLines(stdout).filter((l) => l.msg === 'request')
  })

  it('writes one JSON line per request with method, route template, status, bytes and ms', () => {
    // Every stdout line parsed as JSON above. The pushes came first: 3 blob POSTs and a PUT.
    assert.equal(requests.length, 4 + calls.length)
    assert.deepEqual(
      requests.slice(0, 4).map((l) => `${l.method} ${l.route} ${l.status}`),
      [
        ...Array(3).fill('POST /v2/<name>/blobs/uploads/ 201'),
        'PUT /v2/<name>/manifests/<reference> 201',
      ],
    )
    // A streamed response is logged when its last byte is written, which can be after the
    // client has read it and sent the next request: match lines to calls, not by position.
    const key = (l: { method?: unknown; route?: unknown; status?: unknown }) =>
      `${l.method} ${l.route} ${l.status}`
    const logged = requests.slice(4)
    assert.deepEqual(logged.map(key).sort(), calls.map(key).sort())
    for (const line of logged) {
      // Successful reads at debug; failures (the 404s) at info.
      assert.equal(line.level, (line.status as number) < 400 ? 'debug' : 'info', key(line))
      assert.equal(typeof line.time, 'string')
      assert.equal(typeof line.bytes, 'number')
      assert.equal(typeof line.ms, 'number')
      assert.ok((line.ms as number) >= 0)
    }
    // A streamed blob and a manifest count the bytes actually sent.
    for (const call of [calls[1], calls[4]]) {
      const line = logged.find((l) => key(l) === key(call))
      assert.equal(line?.bytes, call.received, call.path)
    }
    assert.equal(calls[1].received, 100_000)
    // Routes are logged as templates, never as raw paths.
    assert.ok(!stdout.includes(blobDigest.slice('sha256:'.length)), 'a log line carries a raw path')
  })

  it('logs the size of every response body, including JSON bodies and HEAD', () => {
    for (const call of calls) {
      const line = requests
        .slice(4)
        .find((l) => l.method === call.method && l.route === call.route && l.status === call.status)
      assert.equal(line?.bytes, call.received, `${call.method} ${call.path}`)
    }
  })
})
