// Server CPU per GiB served, Outpost against distribution (issue 17, "Pull must not lose"): both
// are started, one blob of MIB MiB is pushed to each, then pulled ROUNDS times interleaved, the
// client hashing every byte (as skopeo and containerd do) on the same cores. Wall time on a shared
// machine is noise; the server's own CPU time (utime + stime from /proc) is what this compares
// (MB/s per pull printed beside it).
//   npm run build && node --import tsx bench/profile-pull-cpu.ts [MIB] [ROUNDS]
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { get } from 'node:http'
import { RegistryClient } from './client.js'
import { blobDigest, blockPieces, MIB } from './payload.js'
import { cpuSeconds } from './process-stats.js'
import { startDistribution, startOutpost, type Target } from './targets.js'

const mib = Number(process.argv[2] ?? 256)
const rounds = Number(process.argv[3] ?? 3)
const digest = blobDigest(7, mib)
const targets = [
  await startOutpost(process.cwd(), {}, { shipped: true }),
  await startDistribution(),
]
try {
  for (const target of targets) {
    const pushed = await new RegistryClient(target.url, 1).stream(
      'POST',
      `/v2/bench/pull/blobs/uploads/?digest=${digest}`,
      { 'Content-Length': mib * MIB, 'Content-Type': 'application/octet-stream' },
      blockPieces(7, 0, mib),
    )
    // distribution answers a monolithic POST with 202 and a session: finish it with a PUT.
    if (pushed.status === 202) await finishUpload(target, pushed.headers.location as string)
    else if (pushed.status !== 201) throw new Error(`${target.name} push: ${pushed.status}`)
  }
  const perGiB = new Map<string, number[]>()
  const rates = new Map<string, number[]>()
  for (let round = 0; round < rounds; round++) {
    for (const target of targets) {
      const before = cpuSeconds(target.pid)
      const split = userSystem(target.pid)
      const began = performance.now()
      const bytes = await pullHashed(target)
      const mbs = bytes / 1e6 / ((performance.now() - began) / 1000)
      rates.set(target.name, [...(rates.get(target.name) ?? []), mbs])
      const cpu = cpuSeconds(target.pid) - before
      const after = userSystem(target.pid)
      if (process.env.PROFILE_SPLIT)
        console.log(
          `${target.name}: user ${(after[0] - split[0]).toFixed(2)} s, system ${(after[1] - split[1]).toFixed(2)} s`,
        )
      const list = perGiB.get(target.name) ?? []
      list.push(cpu / (bytes / (1024 * MIB)))
      perGiB.set(target.name, list)
    }
  }
  for (const [name, list] of perGiB) {
    const sorted = [...list].sort((a, b) => a - b)
    console.log(
      `${name}: server CPU per GiB served ${list.map((s) => s.toFixed(3)).join(', ')} s ` +
        `(median ${sorted[Math.floor(sorted.length / 2)].toFixed(3)} s); ` +
        `MB/s ${rates
          .get(name)!
          .map((r) => r.toFixed(0))
          .join(', ')}`,
    )
  }
} finally {
  for (const target of targets) await target.stop()
}

async function finishUpload(target: Target, location: string): Promise<void> {
  const url = new URL(location, target.url)
  url.searchParams.set('digest', digest)
  const reply = await new RegistryClient(target.url, 1).stream(
    'PUT',
    url.pathname + url.search,
    { 'Content-Length': mib * MIB, 'Content-Type': 'application/octet-stream' },
    blockPieces(7, 0, mib),
  )
  if (reply.status !== 201) throw new Error(`${target.name} PUT: ${reply.status}`)
}

function userSystem(pid: number): [number, number] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return [Number(fields[11]) / 100, Number(fields[12]) / 100]
}

function pullHashed(target: Target): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    get(new URL(`/v2/bench/pull/blobs/${digest}`, target.url), (res) => {
      const hash = createHash('sha256')
      let n = 0
      res.on('data', (chunk: Buffer) => {
        n += chunk.length
        hash.update(chunk)
      })
      res.on('end', () => {
        if (`sha256:${hash.digest('hex')}` !== digest) reject(new Error(`${target.name}: digest`))
        else resolve(n)
      })
      res.on('error', reject)
    }).on('error', reject)
  })
}
