// Profile helper for pulls (docs/performance-history.md): starts a compiled Outpost with --cpu-prof
// (or BENCH_OUTPOST_NODE_ARGS), pushes one blob of MIB MiB, pulls it 3 times without hashing on the
// client, and leaves the .cpuprofile in PROFILE_DIR.
//   npm run build && PROFILE_DIR=/tmp/prof node --import tsx bench/profile-pull.ts [MIB]
import { get } from 'node:http'
import { RegistryClient } from './client.js'
import { blobDigest, blockPieces, MIB } from './payload.js'
import { cpuSeconds } from './process-stats.js'
import { startProfiled } from './targets.js'

const mib = Number(process.argv[2] ?? 256)
const { target, dir } = await startProfiled(process.cwd())
const client = new RegistryClient(target.url, 1)
const digest = blobDigest(7, mib)
const pushed = await client.stream(
  'POST',
  `/v2/bench/pull/blobs/uploads/?digest=${digest}`,
  { 'Content-Length': mib * MIB, 'Content-Type': 'application/octet-stream' },
  blockPieces(7, 0, mib),
)
if (pushed.status !== 201) throw new Error(`push: ${pushed.status}`)
for (let i = 0; i < 3; i++) {
  const cpuBefore = cpuSeconds(target.pid)
  const began = performance.now()
  const bytes = await new Promise<number>((resolve, reject) => {
    get(new URL(`/v2/bench/pull/blobs/${digest}`, target.url), (res) => {
      let n = 0
      res.on('data', (chunk: Buffer) => (n += chunk.length))
      res.on('end', () => resolve(n))
      res.on('error', reject)
    }).on('error', reject)
  })
  const seconds = (performance.now() - began) / 1000
  const cpu = cpuSeconds(target.pid) - cpuBefore
  console.log(
    `pull ${(bytes / MIB).toFixed(0)} MiB: ${(bytes / MIB / seconds).toFixed(0)} MiB/s, ` +
      `server CPU ${cpu.toFixed(2)} s`,
  )
}
await target.stop()
console.log(`profile in ${dir}`)
