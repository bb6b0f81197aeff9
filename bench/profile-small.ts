// Profile helper for the small-image workload (README, Performance): starts a compiled Outpost
// with --cpu-prof (or BENCH_OUTPOST_NODE_ARGS), pushes N small images at concurrency 8 into one
// repository as the comparison bench does, and leaves the .cpuprofile in PROFILE_DIR.
//   npm run build && PROFILE_DIR=/tmp/prof node --import tsx bench/profile-small.ts [N]
import { mkdirSync } from 'node:fs'
import { RegistryClient } from './client.js'
import { smallImage } from './payload.js'
import { cpuSeconds } from './process-stats.js'
import { startOutpost } from './targets.js'
import { pushImage } from './workloads.js'

const count = Number(process.argv[2] ?? 400)
const dir = process.env.PROFILE_DIR ?? '/tmp/outpost-profile'
mkdirSync(dir, { recursive: true })
process.env.BENCH_OUTPOST_NODE_ARGS ??= `--cpu-prof --cpu-prof-dir=${dir}`
const target = await startOutpost(process.cwd(), {}, { shipped: true })
const client = new RegistryClient(target.url, 8)
const images = Array.from({ length: count }, (_, n) => smallImage(n + 1000))
let next = 0
const cpuBefore = cpuSeconds(target.pid)
const began = performance.now()
await Promise.all(
  Array.from({ length: 8 }, async () => {
    for (let n = next++; n < count; n = next++)
      await pushImage(client, 'bench/small', images[n], `v${n}`)
  }),
)
const seconds = (performance.now() - began) / 1000
const cpuMs = ((cpuSeconds(target.pid) - cpuBefore) * 1000) / count
console.log(
  `${count} images in ${seconds.toFixed(2)} s = ${(count / seconds).toFixed(1)} images/s, ` +
    `server CPU ${cpuMs.toFixed(2)} ms per image`,
)
await target.stop()
console.log(`profile in ${dir}`)
