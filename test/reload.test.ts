// SIGHUP (issue 7, "Operations"): `outpost serve` re-reads its config file and swaps in a new
// certificate and new GC settings while a download is in flight, which completes intact; a change
// that needs a restart is logged and not applied; SIGTERM still drains under TLS.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { request as httpsRequest } from 'node:https'
import { join } from 'node:path'
import { after, it } from 'node:test'
import type { IncomingMessage } from 'node:http'
import { scratchDirs, sha256 } from './helpers/harness.js'
import { missingTools } from './helpers/images.js'
import { makeCert, serveProcess, type ServeProcess } from './helpers/ops.js'
import { suiteNeeding } from './helpers/suite.js'

const reason = await missingTools('openssl')
const dir = scratchDirs()

/** GET `path`, trusting `ca`: the response (paused) and the server certificate's fingerprint. */
function open(
  url: string,
  path: string,
  ca: string,
): Promise<{ res: IncomingMessage; fp: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${url}${path}`, { ca, agent: false }, (res) => {
      res.pause()
      const socket = res.socket as import('node:tls').TLSSocket
      resolve({ res, fp: socket.getPeerCertificate().fingerprint256 })
    })
    req.on('error', reject)
    req.end()
  })
}

async function readAll(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  res.resume()
  for await (const c of res) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

suiteNeeding('SIGHUP reload and SIGTERM drain', reason, () => {
  let server: ServeProcess | undefined
  after(() => server?.kill())

  it('swaps certificate and GC settings without dropping an in-flight download', async () => {
    const work = await dir('outpost-reload-')
    const root = await dir('outpost-reload-root-')
    const a = await makeCert(join(work, 'a'), 'first')
    const b = await makeCert(join(work, 'b'), 'second')
    const file = join(work, 'config.json')
    const config = (tls: { cert: string; key: string }, gc: object, port = 0) =>
      writeFile(
        file,
        JSON.stringify({
          storage: { rootDirectory: root, ...gc },
          // The test machine's own load must not pause the GC pass this test waits for.
          maintenance: { cpuPercent: 100, minFreeMemory: '0', ioRate: '1000MB/s' },
          http: { address: '127.0.0.1', port, tls: { cert: tls.cert, key: tls.key } },
        }),
      )
    await config(a, { gcDelay: '1h', gcInterval: '1h' })
    server = await serveProcess(file)
    const url = server.url

    // A blob large enough that the paused download cannot fit in socket buffers.
    const blob = Buffer.alloc(32 * 1024 * 1024)
    for (let i = 0; i < blob.length; i += 4096) blob.writeUInt32LE(i, i)
    const push = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest(
        `${url}/v2/big/blobs/uploads/?digest=${sha256(blob)}`,
        { method: 'POST', ca: a.pem, headers: { 'Content-Length': blob.length } },
        (res) => (res.resume(), resolve(res.statusCode!)),
      )
      req.on('error', reject)
      req.end(blob)
    })
    assert.equal(push, 201)

    const first = await open(url, `/v2/big/blobs/${sha256(blob)}`, a.pem)
    const last = await open(url, `/v2/big/blobs/${sha256(blob)}`, a.pem)
    const fpA = first.fp
    // New certificate, GC every second from now, and a port change that needs a restart.
    await config(b, { gcDelay: '1s', gcInterval: '1s' }, 1)
    const mark = server.output().length
    server.process.kill('SIGHUP')
    const reloaded = await server.waitFor(/"msg":"configuration reloaded".*\n/, mark)
    assert.match(reloaded[0], /"gc":\{"enabled":true,"delayMs":1000,"intervalMs":1000\}/)
    assert.match(server.output().slice(mark), /needs a restart.*"keys":\["http\.port"\]/)
    // Still on the old port; new connections get the new certificate (trusting only b works).
    const second = await open(url, '/v2/', b.pem)
    assert.notEqual(second.fp, fpA)
    await readAll(second.res)
    // The new GC schedule runs: a pass within seconds of the reload, not an hour later.
    await server.waitFor(/"msg":"gc pass"/, mark, 10_000)
    // It collected the blob (no manifest holds it): GET now 404s, yet open downloads go on.
    const gone = await open(url, `/v2/big/blobs/${sha256(blob)}`, b.pem)
    assert.equal(gone.res.statusCode, 404)
    await readAll(gone.res)
    // The download that began before the reload completes, byte for byte.
    const body = await readAll(first.res)
    assert.equal(createHash('sha256').update(body).digest('hex'), sha256(blob).slice(7))

    // SIGTERM under TLS drains: a download in flight finishes, then the process exits 0.
    server.process.kill('SIGTERM')
    await new Promise((r) => setTimeout(r, 200))
    const drained = await readAll(last.res)
    assert.equal(drained.length, blob.length)
    assert.equal(await server.exited, 0)
    assert.match(server.output(), /"msg":"stopped cleanly"/)
  })

  it('keeps running on an invalid file: the reload changes nothing', async () => {
    const work = await dir('outpost-reload-bad-')
    const root = await dir('outpost-reload-bad-root-')
    const file = join(work, 'config.json')
    await writeFile(file, JSON.stringify({ storage: { rootDirectory: root }, http: { port: 0 } }))
    const s = await serveProcess(file)
    server = s
    await writeFile(file, '{"storage": {"rootDirectory": 7}}')
    const mark = s.output().length
    s.process.kill('SIGHUP')
    await s.waitFor(/"msg":"reload failed: kept the running configuration"/, mark)
    assert.equal((await fetch(`${s.url}/v2/`)).status, 200)
    s.process.kill('SIGTERM')
    assert.equal(await s.exited, 0)
  })
})
