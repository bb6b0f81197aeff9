// Resume, don't restart: pull-through blobs over an uplink that cuts every connection after N
// bytes (test/helpers/cutting-proxy.ts) arrive whole, the rest asked for with Range; an upstream
// that ignores Range is fetched again from zero; a client's retry and a restarted Outpost go on
// from the prefix already staged. Upstreams are a real Outpost and a tiny server that always
// answers 200. Layer bytes are seeded: set OUTPOST_TEST_SEED to replay a run.
import assert from 'node:assert/strict'
import { createCipheriv, createHash, randomBytes } from 'node:crypto'
import { readdir, readFile, stat } from 'node:fs/promises'
import * as http from 'node:http'
import * as net from 'node:net'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { resolveSync, syncSchema } from '../src/config/sync.js'
import { Digest } from '../src/registry/index.js'
import { stagingSessionId } from '../src/upstream/staged-pull.js'
import { cuttingProxy, type CutRule, type CuttingProxy } from './helpers/cutting-proxy.js'
import { imageOf, scratchDirs, sha256, socketServer } from './helpers/harness.js'
import { missingTools, skopeoCopy } from './helpers/images.js'
import { suiteNeeding } from './helpers/suite.js'
import { pushToUpstream } from './helpers/upstream.js'

const MiB = 1 << 20
const seed = process.env.OUTPOST_TEST_SEED ?? randomBytes(8).toString('hex')
console.log(`resume.test.ts: OUTPOST_TEST_SEED=${seed}`)

/** `length` bytes that depend only on the seed and `label` (AES-128-CTR over zeros). */
function seeded(label: string, length: number): Buffer {
  const key = createHash('sha256').update(`${seed}/${label}`).digest()
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32))
  return cipher.update(Buffer.alloc(length))
}

// Before any test is declared: a top-level await between suites lets the root's after() run
// before the later suites.
const noSkopeo = await missingTools('skopeo')
const dir = scratchDirs()
const cleanups: Array<() => Promise<unknown>> = []
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {})
})

/** An upstream Outpost holding `blobs` (pushed monolithically) in `repo`. */
async function upstreamOutpost(repo: string, blobs: Buffer[]) {
  const server = await socketServer(await dir())
  cleanups.push(() => server.close())
  const image = imageOf(Buffer.from(`{"seed":"${seed}"}`), blobs)
  await pushToUpstream(
    server.url,
    repo,
    [image.config, ...image.layers],
    image.manifest,
    image.mediaType,
    'v1',
  )
  return { url: server.url, image }
}

/** A pull-through Outpost on `root` whose one upstream is `url`. */
async function pullThrough(url: string, root: string, maxRetries = 2) {
  const raw = {
    enable: true,
    registries: [{ urls: [url], onDemand: true, tlsVerify: false, maxRetries, retryDelay: '10ms' }],
  }
  const server = await socketServer(root, {}, { sync: resolveSync(syncSchema.parse(raw)) })
  cleanups.push(() => server.close())
  return server
}

async function proxyTo(url: string, cutAfter: CutRule) {
  const proxy = await cuttingProxy(url, cutAfter)
  cleanups.push(() => proxy.close())
  return proxy
}

/** GET a blob: its digest when the body arrived whole, or the failure that cut it. */
async function getBlob(base: string, repo: string, digest: string) {
  const res = await fetch(`${base}/v2/${repo}/blobs/${digest}`)
  assert.equal(res.status, 200)
  try {
    return { digest: sha256(Buffer.from(await res.arrayBuffer())) }
  } catch (err) {
    return { failed: err }
  }
}

/** The start of each `bytes=<start>-` Range the proxy passed for `digest`. */
function rangeStarts(proxy: CuttingProxy, digest: string, from = 0): number[] {
  return proxy.requests
    .slice(from)
    .filter((r) => r.method === 'GET' && r.path.endsWith(`/blobs/${digest}`) && r.range)
    .map((r) => {
      const m = /^bytes=(\d+)-$/.exec(r.range!)
      if (!m) throw new Error(`expected an open-ended byte range, not ${r.range}`)
      return Number(m[1])
    })
}

/**
 * The bytes the pull-through session of `digest` has staged, once it is idle: the status
 * request waits for the session's lock, which the failed download holds until its last byte
 * is written.
 */
async function stagedBytes(base: string, repo: string, digest: string): Promise<number> {
  const id = stagingSessionId(repo, Digest.parse(digest))
  const res = await fetch(`${base}/v2/${repo}/blobs/uploads/${id}`)
  assert.equal(res.status, 204, 'the cut download left its staged prefix')
  return Number(/^0-(\d+)$/.exec(res.headers.get('range') ?? '')?.[1] ?? -1) + 1
}

async function visible(root: string, repo: string, digest: string): Promise<boolean> {
  const hex = digest.slice('sha256:'.length)
  return stat(join(root, repo, 'blobs/sha256', hex)).then(
    () => true,
    () => false,
  )
}

async function stagingFiles(root: string, repo: string): Promise<string[]> {
  return readdir(join(root, repo, '.uploads')).catch(() => [])
}

/** Wait (by count) until the background store of a pulled blob is done. */
async function eventually(check: () => Promise<boolean>, what: string) {
  for (let i = 0; i < 400; i++) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 25))
  }
  assert.fail(`never saw ${what}`)
}

describe('resume, do not restart: blobs through an uplink that cuts every connection', () => {
  it('6 MiB and 20 MiB layers arrive intact through 1 MiB cuts, resumed with Range', async () => {
    const repo = 'library/cut'
    const small = seeded('six', 6 * MiB)
    const large = seeded('twenty', 20 * MiB + 12345)
    const up = await upstreamOutpost(repo, [small, large])
    const proxy = await proxyTo(up.url, MiB)
    const root = await dir()
    const server = await pullThrough(proxy.url, root)
    for (const blob of [small, large]) {
      const digest = sha256(blob)
      const got = await getBlob(server.url, repo, digest)
      assert.equal(got.digest, digest, `the ${blob.length}-byte layer arrived intact`)
      const starts = rangeStarts(proxy, digest)
      // Each connection carries at most 1 MiB (its response head included): about one Range
      // per MiB after the first, and a keep-alive connection reused may add one.
      const mibs = Math.ceil(blob.length / MiB)
      assert.ok(
        starts.length >= mibs - 1 && starts.length <= mibs + 1,
        `${starts.length} Range requests for ${mibs} MiB`,
      )
      assert.ok(starts[0] > 0, 'the first request asks for the whole blob, the rest resume')
      for (let i = 1; i < starts.length; i++) assert.ok(starts[i] > starts[i - 1])
      await eventually(() => visible(root, repo, digest), 'the verified blob stored')
    }
    assert.ok(proxy.cuts >= 24, `${proxy.cuts} connections cut`)
    assert.deepEqual(await stagingFiles(root, repo), [], 'nothing staged is left')
    // Stored once: served from the store, the upstream not asked again.
    const before = proxy.requests.length
    assert.equal((await getBlob(server.url, repo, sha256(large))).digest, sha256(large))
    assert.equal(proxy.requests.length, before)
  })

  it('an upstream that ignores Range: each answer starts from zero and the blob still arrives', async () => {
    const repo = 'library/norange'
    const blob = seeded('norange', 6 * MiB)
    const digest = sha256(blob)
    const seen: Array<string | undefined> = []
    let sent = 0
    const plain = http.createServer((req, res) => {
      seen.push(req.headers.range)
      if (req.url !== `/v2/${repo}/blobs/${digest}`) return void res.writeHead(404).end()
      // RFC 9110 §14.2: a server may ignore Range and send the whole representation.
      res.writeHead(200, {
        'Content-Length': blob.length,
        'Content-Type': 'application/octet-stream',
      })
      if (req.method === 'HEAD') return void res.end()
      sent += blob.length
      res.end(blob)
    })
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve))
    cleanups.push(
      () =>
        new Promise((resolve) => {
          plain.closeAllConnections()
          plain.close(resolve)
        }),
    )
    const url = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`
    // Each connection gets 2 MiB further than the one before: every answer restarts from zero
    // and still brings new bytes.
    const proxy = await proxyTo(url, 0)
    proxy.cutAfter = (connection: number) => (connection + 1) * 2 * MiB
    const root = await dir()
    const server = await pullThrough(proxy.url, root, 1)
    assert.equal((await getBlob(server.url, repo, digest)).digest, digest)
    await eventually(() => visible(root, repo, digest), 'the verified blob stored')
    assert.deepEqual(seen[0], undefined, 'the first request asks for the whole blob')
    assert.ok(seen.length >= 3, `${seen.length} requests`)
    assert.ok(
      seen.slice(1).every((r) => r && /^bytes=\d+-$/.test(r)),
      'retries asked for the rest',
    )
    assert.ok(sent >= 3 * blob.length, 'the upstream sent the blob from zero every time')

    // A cut that never gets past what is already held: no progress, so the retry policy ends
    // it; the client's connection aborts and nothing becomes visible.
    const plain2 = await proxyTo(url, MiB)
    const server2 = await pullThrough(plain2.url, await dir(), 1)
    const res = await fetch(`${server2.url}/v2/${repo}/blobs/${digest}`)
    assert.equal(res.status, 200)
    await assert.rejects(res.arrayBuffer(), 'the body must not complete')
    assert.ok(
      (await stagedBytes(server2.url, repo, digest)) < MiB,
      'only the first cut answer was kept',
    )
    assert.equal(await visible(server2.root, repo, digest), false)
    // 1 plain GET that brought new bytes, then maxRetries + 1 resumes that brought nothing.
    assert.equal(plain2.requests.filter((r) => r.method === 'GET').length, 3)
  })

  it('a client retry and a restarted Outpost continue from the staged prefix with Range', async () => {
    const repo = 'library/restart'
    const blob = seeded('restart', 6 * MiB + 777)
    const digest = sha256(blob)
    const up = await upstreamOutpost(repo, [blob])
    // The first connection carries 3 MiB, every later one nothing: the download breaks off.
    const proxy = await proxyTo(up.url, 0)
    proxy.cutAfter = (connection: number) => (connection === 0 ? 3 * MiB : 0)
    const root = await dir()
    let server = await pullThrough(proxy.url, root, 1)
    assert.ok((await getBlob(server.url, repo, digest)).failed, 'the first download is cut')
    const first = await stagedBytes(server.url, repo, digest)
    assert.ok(first > 2 * MiB && first < 3 * MiB, `${first} bytes staged`)
    assert.equal(await visible(root, repo, digest), false, 'nothing visible unverified')

    // The client retries: its download starts where the staged bytes end.
    let mark = proxy.requests.length
    const connections = proxy.connections
    proxy.cutAfter = (connection: number) => (connection === connections ? 2 * MiB : 0)
    assert.ok((await getBlob(server.url, repo, digest)).failed, 'cut again')
    assert.equal(rangeStarts(proxy, digest, mark)[0], first, 'the retry resumed from the prefix')
    const second = await stagedBytes(server.url, repo, digest)
    assert.ok(second > first + MiB, `${second} bytes staged after the retry`)

    // Outpost restarts: the staged prefix is re-hashed from disk and continued.
    await server.close()
    const id = stagingSessionId(repo, Digest.parse(digest))
    assert.equal((await stat(join(root, repo, '.uploads', id))).size, second)
    server = await pullThrough(proxy.url, root, 1)
    mark = proxy.requests.length
    proxy.cutAfter = MiB
    assert.equal((await getBlob(server.url, repo, digest)).digest, digest, 'intact after restart')
    const starts = rangeStarts(proxy, digest, mark)
    assert.equal(starts[0], second, 'the first request after the restart asks for the rest')
    await eventually(() => visible(root, repo, digest), 'the verified blob stored')
    assert.deepEqual(await stagingFiles(root, repo), [])
    const stored = await readFile(join(root, repo, 'blobs/sha256', digest.slice(7)))
    assert.equal(sha256(stored), digest)
  })

  it('a staged prefix that does not match the blob is discarded, and the next pull starts over', async () => {
    const repo = 'library/badprefix'
    const blob = seeded('badprefix', 3 * MiB)
    const digest = sha256(blob)
    const up = await upstreamOutpost(repo, [blob])
    const proxy = await proxyTo(up.url, 0)
    proxy.cutAfter = (connection: number) => (connection === 0 ? MiB : 0)
    const root = await dir()
    const server = await pullThrough(proxy.url, root, 0)
    assert.ok((await getBlob(server.url, repo, digest)).failed)
    const staged = await stagedBytes(server.url, repo, digest)
    // Someone appends garbage to the staged prefix (a damaged disk, a stray client).
    const id = stagingSessionId(repo, Digest.parse(digest))
    const patch = await fetch(`${server.url}/v2/${repo}/blobs/uploads/${id}`, {
      method: 'PATCH',
      headers: {
        'Content-Range': `${staged}-${staged + 9}`,
        'Content-Type': 'application/octet-stream',
      },
      body: Buffer.alloc(10, 0xff),
    })
    assert.equal(patch.status, 202)
    proxy.cutAfter = Infinity
    const res = await fetch(`${server.url}/v2/${repo}/blobs/${digest}`)
    await assert.rejects(res.arrayBuffer(), 'a body that does not match is not completed')
    await eventually(async () => (await stagingFiles(root, repo)).length === 0, 'the prefix gone')
    assert.equal(await visible(root, repo, digest), false)
    const mark = proxy.requests.length
    assert.equal((await getBlob(server.url, repo, digest)).digest, digest)
    assert.deepEqual(rangeStarts(proxy, digest, mark), [], 'fetched again from zero')
  })
})

/** The length of the response head `url` answers a keep-alive GET of `path` with. */
async function responseHeadLength(url: string, path: string, accept: string): Promise<number> {
  const { hostname, port } = new URL(url)
  const socket = net.connect(Number(port), hostname)
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAccept: ${accept}\r\nConnection: keep-alive\r\n\r\n`,
  )
  let received = Buffer.alloc(0)
  for await (const chunk of socket) {
    received = Buffer.concat([received, chunk as Buffer])
    const end = received.indexOf('\r\n\r\n')
    if (end >= 0) {
      socket.destroy()
      return end + 4
    }
  }
  throw new Error('no response head')
}

describe('manifests through the cutting proxy', () => {
  it('a manifest whose body was cut is fetched again whole', async () => {
    const repo = 'library/manifest-cut'
    const up = await upstreamOutpost(repo, [seeded('manifest', 1000)])
    const { image } = up
    const path = `/v2/${repo}/manifests/v1`
    const head = await responseHeadLength(up.url, path, image.mediaType)
    // The first connection breaks off in the middle of the manifest's body.
    const proxy = await proxyTo(up.url, 0)
    proxy.cutAfter = (connection: number) =>
      connection === 0 ? head + Math.floor(image.manifest.length / 2) : Infinity
    const server = await pullThrough(proxy.url, await dir(), 1)
    const res = await fetch(`${server.url}${path}`, { headers: { Accept: image.mediaType } })
    assert.equal(res.status, 200, await res.clone().text())
    assert.equal(sha256(Buffer.from(await res.arrayBuffer())), image.digest)
    assert.equal(proxy.cuts, 1)
    assert.equal(proxy.requests.filter((r) => r.path === path).length, 2)
  })
})

suiteNeeding('skopeo through pull-through behind the cutting proxy', noSkopeo, () => {
  it('copies an image with a 6 MiB layer intact', async () => {
    const repo = 'library/skopeo-cut'
    const layer = seeded('skopeo', 6 * MiB)
    const up = await upstreamOutpost(repo, [layer])
    const proxy = await proxyTo(up.url, MiB)
    const server = await pullThrough(proxy.url, await dir())
    // dir: keeps each blob as it arrived (oci: would compress an uncompressed layer).
    const out = join(await dir(), 'copy')
    await skopeoCopy(
      `docker://${new URL(server.url).host}/${repo}:v1`,
      `dir:${out}`,
      '--src-tls-verify=false',
    )
    const copied = await readFile(join(out, sha256(layer).slice(7)))
    assert.equal(sha256(copied), sha256(layer))
    assert.ok(rangeStarts(proxy, sha256(layer)).length >= 5, 'resumed with Range')
  })
})
