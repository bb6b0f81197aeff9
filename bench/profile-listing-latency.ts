// Listing latency at scale (issue 17, "Catalog and listings at scale"): generates REPOS
// repositories (bench/layout-generator.ts, 3 blobs each) plus one repository whose index.json
// tags one image TAGS times, starts a compiled Outpost on that root, and times N requests of
// `_catalog?n=50` and of the tags list (`?n=50` and the first whole page) at concurrency 8, once
// the start's own passes are done,
// printing p50/p99 and the server's CPU per request.
//   npm run build && node --import tsx bench/profile-listing-latency.ts [REPOS] [TAGS] [N]
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { RegistryClient } from './client.js'
import { generateLayout } from './layout-generator.js'
import { OCI_MANIFEST } from './payload.js'
import { cpuSeconds } from './process-stats.js'
import { scratchDir, startOutpost } from './targets.js'
import { forEachInParallel } from './workloads.js'

const repos = Number(process.argv[2] ?? 10_000)
const tagCount = Number(process.argv[3] ?? 5_000)
const count = Number(process.argv[4] ?? 2_000)
const scratch = scratchDir('outpost-listing-')
const root = join(scratch.dir, 'root')
generateLayout(root, repos, 3)
// The tags repository: index.json only (a tags list reads nothing else).
const tagged = join(root, 'listing/tags')
mkdirSync(join(tagged, 'blobs/sha256'), { recursive: true })
writeFileSync(join(tagged, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
const digest = `sha256:${'ab'.repeat(32)}`
const manifests = Array.from({ length: tagCount }, (_, i) => ({
  mediaType: OCI_MANIFEST,
  digest,
  size: 100,
  annotations: { 'org.opencontainers.image.ref.name': `t${i}` },
}))
writeFileSync(join(tagged, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests }))
const target = await startOutpost(process.cwd(), {}, { shipped: true, rootDirectory: root })
const client = new RegistryClient(target.url, 8)
try {
  // The start's own passes (engine index rebuild, dedupe) walk every repository: wait until the
  // server is idle (under 20 ms of CPU in a second), so they are not timed with the listings.
  for (let last = cpuSeconds(target.pid); ;) {
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const now = cpuSeconds(target.pid)
    if (now - last < 0.02) break
    last = now
  }
  for (const path of [
    '/v2/_catalog?n=50',
    '/v2/_catalog?n=50&last=footprint/r5000',
    '/v2/listing/tags/tags/list?n=50',
    '/v2/listing/tags/tags/list',
  ]) {
    await forEachInParallel(count / 10, 8, async () => void (await client.call('GET', path))) // warm-up
    const times: number[] = []
    const before = cpuSeconds(target.pid)
    await forEachInParallel(count, 8, async () => {
      const began = performance.now()
      const reply = await client.call('GET', path)
      times.push(performance.now() - began)
      if (reply.status !== 200) throw new Error(`${path}: ${reply.status}`)
    })
    const cpu = cpuSeconds(target.pid) - before
    times.sort((a, b) => a - b)
    const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]
    console.log(
      `${path}: p50 ${at(0.5).toFixed(2)} ms, p99 ${at(0.99).toFixed(2)} ms, ` +
        `server CPU ${((cpu * 1e6) / count).toFixed(0)} µs/request`,
    )
  }
  if (process.env.PROFILE_OUTPUT) console.log(target.output())
} finally {
  client.close()
  await target.stop()
  await scratch.remove()
}
