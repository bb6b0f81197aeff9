// Profile helper for listings at scale (issue 17): a compiled Outpost with --cpu-prof (as
// profile-push.ts), given REPOS repositories and TAGS tags as listing-scale.ts gives them, then
// 2,000 requests of one listing kind, 8 at a time (KIND: 0 catalog pages, 1 tags pages, 2 the
// whole tags list), with p50/p99; the .cpuprofile lands in PROFILE_DIR.
//   npm run build && KIND=0 PROFILE_DIR=/tmp/prof node --import tsx bench/profile-listing.ts 10000 5000
import { RegistryClient } from './client.js'
import { fixture, latencies, pathsOf } from './listing-scale.js'
import { startProfiled } from './targets.js'

const [repos = 10_000, tags = 5_000] = process.argv.slice(2).map(Number)
const kind = Number(process.env.KIND ?? 0)
const plan = { repos, tags, requests: 2_000 }
const { target, dir } = await startProfiled(process.cwd())
const client = new RegistryClient(target.url, 16)
await fixture(client, target, plan)
const { ms } = await latencies(client, pathsOf(kind, plan, 0), kind === 0 ? 'repositories' : 'tags')
ms.sort((a, b) => a - b)
const at = (p: number) => ms[Math.min(ms.length - 1, Math.floor((p / 100) * ms.length))].toFixed(2)
console.log(`kind ${kind}: p50 ${at(50)} ms, p99 ${at(99)} ms over ${ms.length} requests`)
client.close()
await target.stop()
console.log(`profile in ${dir}`)
