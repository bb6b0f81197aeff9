// Profile helper for big pushes (docs/performance-history.md): starts a compiled Outpost with
// --cpu-prof (or BENCH_OUTPOST_NODE_ARGS), pushes one MIB-MiB blob monolithic and one in 8 MiB
// chunks as the comparison bench does, prints MB/s and the server's CPU seconds for each, and
// leaves the .cpuprofile in PROFILE_DIR (PROFILE_OUTPUT=1 prints what the server printed, e.g.
// --trace-gc).
//   npm run build && PROFILE_DIR=/tmp/prof node --import tsx bench/profile-push.ts [MIB]
import { RegistryClient } from './client.js'
import { blobDigest } from './payload.js'
import { cpuSeconds } from './process-stats.js'
import { startProfiled } from './targets.js'
import { pushChunked, pushMonolithic, type Bench, type Plan } from './workloads.js'

const sizeMiB = Number(process.argv[2] ?? 512)
const { target, dir } = await startProfiled(process.cwd())
const client = new RegistryClient(target.url, 1)
const blob = (seed: number) => [{ seed, digest: blobDigest(seed, sizeMiB) }]
const plan = { sizeMiB, chunkMiB: 8, monolithic: blob(11), chunked: blob(12) } as Partial<Plan>
const bench = { client, plan, attempt: 0 } as unknown as Bench
for (const [name, push] of [
  ['monolithic', pushMonolithic],
  ['chunked 8 MiB', pushChunked],
] as const) {
  const cpuBefore = cpuSeconds(target.pid)
  const outcome = await push(bench)
  const cpu = cpuSeconds(target.pid) - cpuBefore
  console.log(`push ${name}: ${outcome.value.toFixed(1)} MB/s, server CPU ${cpu.toFixed(2)} s`)
}
client.close()
if (process.env.PROFILE_OUTPUT) console.log(target.output())
await target.stop()
console.log(`profile in ${dir}`)
