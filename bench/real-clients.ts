// `npm run bench -- --only real-clients` (issue 17): what real clients see. Per round, a fresh
// Outpost (the unit's Node options) and a fresh distribution 2.8 side by side; figure by figure,
// the two take turns (who goes first alternates per figure and per round):
// - skopeo push: `skopeo copy --preserve-digests oci:<layout>:v1 docker://...` of a one-layer
//   image whose layer is gzip-compressed already (gzip-layout.ts), then the manifest read back
//   and its layer digest checked against the layout's (so skopeo did not recompress);
// - skopeo pull: `skopeo copy docker://... dir:<tmp>` (skopeo checks the digest as it reads);
// - the synthetic client (client.ts) pushing monolithic and chunked (8 MiB PATCHes) in 32 KiB and
//   in 1 MiB writes, each with back-pressure (write() false: wait for 'drain'), and pulling with
//   the client hashing every `data` event.
// Fresh servers per round keep skopeo's blob-info cache (keyed by host:port) from turning a push
// into a cross-repository mount. Each figure: MB/s, server CPU and client CPU per GiB (skopeo's
// from the shell's `times`, the synthetic client's from process.cpuUsage), medians over rounds.
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expectStatus, RegistryClient } from './client.js'
import { gzipLayout, type GzipLayout } from './gzip-layout.js'
import { blobDigest, blockPieces, MIB, OCI_MANIFEST, smallImage } from './payload.js'
import { cpuSeconds, settle } from './process-stats.js'
import { spread, type Spread } from './report.js'
import { haveDistribution, startDistribution, startOutpost, type Target } from './targets.js'
import { expectDigest, since, warmUp } from './workloads.js'

export interface RealClientPlan {
  sizeMiB: number
  runs: number
  chunkMiB: number
}

interface Attempt {
  target: string
  round: number
  mbPerSecond: number
  serverCpuPerGiB: number
  clientCpuPerGiB: number
}

export interface RealClientFigure {
  label: string
  /** the ratio issue 17 asks of Outpost over distribution */
  bar: number
  attempts: Attempt[]
}

interface Measured {
  bytes: number
  seconds: number
  clientCpuSeconds: number
}

type Run = (client: RegistryClient, target: Target) => Promise<Measured>

const REPO = 'bench/real'
const OCTETS = 'application/octet-stream'

/** Run a command; resolves with the CPU seconds it and its children used (the shell's `times`). */
function timed(file: string, args: string[]): Promise<number> {
  const script = '"$@" >/dev/null || exit $?; times'
  return new Promise((resolve, reject) => {
    execFile('sh', ['-c', script, 'sh', file, ...args], (err, stdout, stderr) => {
      if (err) return reject(new Error(`${file} ${args.join(' ')} failed: ${stderr || err}`))
      const lines = stdout.trim().split('\n')
      const seconds = (text: string) => {
        const m = /(\d+)m([\d.]+)s/.exec(text)
        return m ? Number(m[1]) * 60 + Number(m[2]) : NaN
      }
      const [user, system] = lines[lines.length - 1].split(' ')
      resolve(seconds(user) + seconds(system))
    })
  })
}

function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1e6
}

/** skopeo push of the layout; checks the manifest and layer digests the registry now holds. */
function skopeoPush(layout: GzipLayout): Run {
  return async (client, target) => {
    const began = process.hrtime.bigint()
    const cpu = await timed('skopeo', [
      'copy',
      '--quiet',
      '--preserve-digests',
      '--dest-tls-verify=false',
      `oci:${layout.dir}:${layout.tag}`,
      `docker://${target.url.host}/${REPO}:v1`,
    ])
    const seconds = since(began)
    const reply = expectStatus(
      await client.call('GET', `/v2/${REPO}/manifests/v1`, { headers: { Accept: OCI_MANIFEST } }),
      200,
      'GET pushed manifest',
    )
    expectDigest(reply.headers['docker-content-digest'], layout.manifestDigest, 'skopeo push')
    const manifest = JSON.parse(reply.body.toString('utf8')) as { layers: { digest: string }[] }
    expectDigest(manifest.layers[0]?.digest, layout.layerDigest, 'skopeo push (layer)')
    const head = expectStatus(
      await client.call('HEAD', `/v2/${REPO}/blobs/${layout.layerDigest}`),
      200,
      'HEAD pushed layer',
    )
    if (Number(head.headers['content-length']) !== layout.layerBytes) {
      throw new Error(`pushed layer is ${head.headers['content-length']} bytes`)
    }
    return { bytes: layout.layerBytes, seconds, clientCpuSeconds: cpu }
  }
}

/** skopeo pull of what skopeoPush pushed, into a `dir:` directory (removed afterwards). */
function skopeoPull(layout: GzipLayout): Run {
  return async (_client, target) => {
    const dir = await mkdtemp(join(tmpdir(), 'outpost-bench-pull-'))
    try {
      const began = process.hrtime.bigint()
      const cpu = await timed('skopeo', [
        'copy',
        '--quiet',
        '--src-tls-verify=false',
        `docker://${target.url.host}/${REPO}:v1`,
        `dir:${dir}`,
      ])
      const seconds = since(began)
      const size = (await stat(join(dir, layout.layerDigest.slice(7)))).size
      if (size !== layout.layerBytes) throw new Error(`skopeo pulled a ${size}-byte layer`)
      return { bytes: size, seconds, clientCpuSeconds: cpu }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }
}

/** MiB blocks [first, first + count) of blob `seed` (as payload.ts), cut into `write`-byte writes. */
export function* sizedPieces(seed: number, first: number, count: number, write: number) {
  for (const [header, tail] of pairs(blockPieces(seed, first, count))) {
    const block = Buffer.concat([header, tail])
    for (let at = 0; at < block.length; at += write) yield block.subarray(at, at + write)
  }
}

function* pairs(pieces: Generator<Buffer>): Generator<[Buffer, Buffer]> {
  for (;;) {
    const a = pieces.next()
    const b = pieces.next()
    if (a.done || b.done) return
    yield [a.value, b.value]
  }
}

async function openUpload(client: RegistryClient): Promise<string> {
  const reply = await client.call('POST', `/v2/${REPO}/blobs/uploads/`)
  return client.resolve(expectStatus(reply, 202, 'POST upload').headers.location)
}

export function monolithic(seed: number, digest: string, mib: number, write: number): Run {
  return async (client) => {
    const cpu = ownCpuSeconds()
    const began = process.hrtime.bigint()
    const location = await openUpload(client)
    const path = `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`
    const headers = { 'Content-Type': OCTETS, 'Content-Length': mib * MIB }
    const reply = await client.stream('PUT', path, headers, sizedPieces(seed, 0, mib, write))
    expectStatus(reply, 201, 'PUT monolithic')
    const seconds = since(began)
    expectDigest(reply.headers['docker-content-digest'], digest, 'monolithic push')
    return { bytes: mib * MIB, seconds, clientCpuSeconds: ownCpuSeconds() - cpu }
  }
}

function chunked(seed: number, digest: string, plan: RealClientPlan, write: number): Run {
  return async (client) => {
    const cpu = ownCpuSeconds()
    const hash = createHash('sha256')
    const began = process.hrtime.bigint()
    let location = await openUpload(client)
    for (let first = 0; first < plan.sizeMiB; first += plan.chunkMiB) {
      const count = Math.min(plan.chunkMiB, plan.sizeMiB - first)
      const start = first * MIB
      const headers = {
        'Content-Type': OCTETS,
        'Content-Length': count * MIB,
        'Content-Range': `${start}-${start + count * MIB - 1}`,
      }
      const pieces = sizedPieces(seed, first, count, write)
      const reply = await client.stream('PATCH', location, headers, pieces, hash)
      location = client.resolve(expectStatus(reply, 202, `PATCH at ${start}`).headers.location)
    }
    const sent = `sha256:${hash.digest('hex')}`
    const path = `${location}${location.includes('?') ? '&' : '?'}digest=${sent}`
    expectStatus(await client.call('PUT', path), 201, 'PUT closing chunked upload')
    const seconds = since(began)
    expectDigest(sent, digest, 'chunked push')
    return { bytes: plan.sizeMiB * MIB, seconds, clientCpuSeconds: ownCpuSeconds() - cpu }
  }
}

export function hashingPull(digest: string, mib: number): Run {
  return async (client) => {
    const cpu = ownCpuSeconds()
    const hash = createHash('sha256')
    const began = process.hrtime.bigint()
    const reply = await client.download(`/v2/${REPO}/blobs/${digest}`, hash)
    const seconds = since(began)
    if (reply.status !== 200 || reply.bytes !== mib * MIB) {
      throw new Error(`GET blob: HTTP ${reply.status}, ${reply.bytes} bytes`)
    }
    expectDigest(`sha256:${hash.digest('hex')}`, digest, 'pulled blob')
    return { bytes: reply.bytes, seconds, clientCpuSeconds: ownCpuSeconds() - cpu }
  }
}

interface Workload {
  label: string
  bar: number
  run: Run
}

function workloadsOf(plan: RealClientPlan, layout: GzipLayout): Workload[] {
  const size = `${plan.sizeMiB} MiB`
  // One blob per synthetic push figure (a round's servers are fresh, so rounds reuse them).
  const seeds = [1701, 1702, 1703, 1704]
  const digests = seeds.map((seed) => blobDigest(seed, plan.sizeMiB))
  const [m32, m1m, c32, c1m] = seeds.map((seed, i) => ({ seed, digest: digests[i] }))
  const chunk = `chunked ${plan.chunkMiB} MiB`
  return [
    {
      label: `skopeo push ${layout.layerBytes >> 20} MiB gzip layer`,
      bar: 2,
      run: skopeoPush(layout),
    },
    { label: `skopeo pull (dir:)`, bar: 1, run: skopeoPull(layout) },
    {
      label: `push ${size} monolithic, 32 KiB writes`,
      bar: 2,
      run: monolithic(m32.seed, m32.digest, plan.sizeMiB, 32 * 1024),
    },
    {
      label: `push ${size} monolithic, 1 MiB writes`,
      bar: 2,
      run: monolithic(m1m.seed, m1m.digest, plan.sizeMiB, MIB),
    },
    {
      label: `push ${size} ${chunk}, 32 KiB writes`,
      bar: 2,
      run: chunked(c32.seed, c32.digest, plan, 32 * 1024),
    },
    {
      label: `push ${size} ${chunk}, 1 MiB writes`,
      bar: 2,
      run: chunked(c1m.seed, c1m.digest, plan, MIB),
    },
    { label: `pull ${size}, client hashes`, bar: 1, run: hashingPull(m1m.digest, plan.sizeMiB) },
  ]
}

async function attempt(workload: Workload, client: RegistryClient, target: Target, round: number) {
  await settle()
  const server = cpuSeconds(target.pid)
  const measured = await workload.run(client, target)
  const gib = measured.bytes / (1024 * MIB)
  const result: Attempt = {
    target: target.name,
    round,
    mbPerSecond: measured.bytes / 1e6 / measured.seconds,
    serverCpuPerGiB: (cpuSeconds(target.pid) - server) / gib,
    clientCpuPerGiB: measured.clientCpuSeconds / gib,
  }
  console.log(
    `  ${workload.label.padEnd(46)} ${target.name.padEnd(13)} ${result.mbPerSecond.toFixed(1).padStart(7)} MB/s` +
      `  CPU s/GiB server ${result.serverCpuPerGiB.toFixed(2)} client ${result.clientCpuPerGiB.toFixed(2)}`,
  )
  return result
}

export async function realClientBench(
  repoRoot: string,
  plan: RealClientPlan,
): Promise<RealClientFigure[]> {
  if (!haveDistribution()) throw new Error('the real-client section needs docker-registry')
  const layout = await gzipLayout(17, plan.sizeMiB)
  console.log(`layout ${layout.dir}: layer ${layout.layerDigest} (${layout.layerBytes} bytes)`)
  const list = workloadsOf(plan, layout)
  const figures: RealClientFigure[] = list.map(({ label, bar }) => ({ label, bar, attempts: [] }))
  for (let round = 0; round < plan.runs; round++) {
    console.log(`real clients, round ${round + 1} of ${plan.runs} (fresh servers)`)
    const targets = [await startOutpost(repoRoot, {}, { shipped: true }), await startDistribution()]
    const clients = targets.map((t) => new RegistryClient(t.url, 8))
    try {
      for (const client of clients) await warmUp(client, smallImage(100_000 + round))
      for (const [i, workload] of list.entries()) {
        const order = (round + i) % 2 === 0 ? [0, 1] : [1, 0]
        for (const t of order) {
          figures[i].attempts.push(await attempt(workload, clients[t], targets[t], round))
        }
      }
    } finally {
      for (const client of clients) client.close()
      for (const target of targets) await target.stop()
    }
  }
  return figures
}

function medianOf(attempts: Attempt[], target: string, key: keyof Attempt): Spread {
  return spread(attempts.filter((a) => a.target === target).map((a) => a[key] as number))
}

export function printRealClients(figures: RealClientFigure[]): void {
  console.log('\nReal clients (MB/s median, min–max; ratio = Outpost / distribution)')
  console.log(
    '| figure | Outpost MB/s | distribution MB/s | ratio | bar | server CPU s/GiB O / d | client CPU s/GiB O / d |',
  )
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const { label, bar, attempts } of figures) {
    const o = medianOf(attempts, 'Outpost', 'mbPerSecond')
    const d = medianOf(attempts, 'distribution', 'mbPerSecond')
    const ratio = o.median / d.median
    const cpu = (key: keyof Attempt) =>
      `${medianOf(attempts, 'Outpost', key).median.toFixed(2)} / ${medianOf(attempts, 'distribution', key).median.toFixed(2)}`
    const range = (s: Spread) => `${s.median.toFixed(0)} (${s.min.toFixed(0)}–${s.max.toFixed(0)})`
    console.log(
      `| ${label} | ${range(o)} | ${range(d)} | ${ratio.toFixed(2)}x ${ratio >= bar ? 'PASS' : 'MISS'} | ${bar.toFixed(1)}x | ${cpu('serverCpuPerGiB')} | ${cpu('clientCpuPerGiB')} |`,
    )
  }
}
