// Server CPU per small request (issue 17, "less work per request inside Hono"): starts a compiled
// Outpost, pushes one small image, then sends N manifest GETs, N blob HEADs and N manifest PUTs
// (re-tagging) at concurrency 8, and prints the server's CPU time per request for each.
//   npm run build && node --import tsx bench/profile-small-requests.ts [N]
import { RegistryClient } from './client.js'
import { OCI_MANIFEST, smallImage } from './payload.js'
import { cpuSeconds } from './process-stats.js'
import { startOutpost } from './targets.js'
import { forEachInParallel, pushImage } from './workloads.js'

const count = Number(process.argv[2] ?? 4000)
const target = await startOutpost(process.cwd(), {}, { shipped: true })
const client = new RegistryClient(target.url, 8)
try {
  const image = smallImage(1)
  await pushImage(client, 'bench/req', image, 'latest')
  const headers = { 'Content-Type': OCI_MANIFEST }
  const kinds: Array<[string, (n: number) => Promise<unknown>]> = [
    [
      'manifest GET',
      () =>
        client.call('GET', '/v2/bench/req/manifests/latest', { headers: { Accept: OCI_MANIFEST } }),
    ],
    ['blob HEAD', () => client.call('HEAD', `/v2/bench/req/blobs/${image.blobDigests[1]}`)],
    [
      'manifest PUT',
      (n) =>
        client.call('PUT', `/v2/bench/req/manifests/t${n % 50}`, { headers, body: image.manifest }),
    ],
  ]
  for (const [name, send] of kinds) {
    const run = async (n: number) => void (await send(n))
    await forEachInParallel(count / 4, 8, run) // warm-up
    const before = cpuSeconds(target.pid)
    await forEachInParallel(count, 8, run)
    const cpu = cpuSeconds(target.pid) - before
    console.log(`${name}: server CPU ${((cpu * 1e6) / count).toFixed(0)} µs per request`)
  }
} finally {
  client.close()
  await target.stop()
}
