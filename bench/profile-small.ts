// Profile helper for the small-image workload (docs/performance-history.md): starts a compiled
// Outpost (with the unit's Node options, plus --cpu-prof or BENCH_OUTPOST_NODE_ARGS), pushes WARM
// images (default 1) into a repository of their own so the JIT has settled, then N small images at
// concurrency 8 into one repository as the comparison bench does. Prints images/s, the server's CPU
// per image by thread (main, libuv pool, V8 workers) and the load generator's, and leaves the
// .cpuprofile in PROFILE_DIR.
//   npm run build && PROFILE_DIR=/tmp/prof WARM=600 node --import tsx bench/profile-small.ts [N]
import { RegistryClient } from './client.js'
import { smallImage } from './payload.js'
import { threadCpuSeconds } from './process-stats.js'
import { startProfiled } from './targets.js'
import { forEachInParallel, pushImage } from './workloads.js'

const count = Number(process.argv[2] ?? 400)
const warm = Number(process.env.WARM ?? 1)
const { target, dir } = await startProfiled(process.cwd())
const client = new RegistryClient(target.url, 8)
for (let n = 0; n < warm; n++)
  await pushImage(client, 'bench/warm', smallImage(n + 100_000), `w${n}`)
const images = Array.from({ length: count }, (_, n) => smallImage(n + 1000))
const threadsBefore = threadCpuSeconds(target.pid)
const clientBefore = process.cpuUsage()
const began = performance.now()
await forEachInParallel(count, 8, (n) => pushImage(client, 'bench/small', images[n], `v${n}`))
const seconds = (performance.now() - began) / 1000
const clientCpu = process.cpuUsage(clientBefore)
const perImage = (cpuSeconds: number) => `${((cpuSeconds * 1000) / count).toFixed(2)} ms`
const used = [...threadCpuSeconds(target.pid)].map(([tid, cpu]) => ({
  tid,
  cpu: cpu - (threadsBefore.get(tid) ?? 0),
}))
console.log(`${count} images in ${seconds.toFixed(2)} s = ${(count / seconds).toFixed(1)} images/s`)
console.log(`server CPU per image: ${perImage(used.reduce((sum, t) => sum + t.cpu, 0))}`)
for (const { tid, cpu } of used.filter((t) => t.cpu > 0)) {
  const role = tid === target.pid ? 'main thread' : 'thread'
  console.log(`  ${role} ${tid}: ${perImage(cpu)}`)
}
console.log(`load generator CPU per image: ${perImage((clientCpu.user + clientCpu.system) / 1e6)}`)
client.close()
await target.stop()
console.log(`profile in ${dir}`)
