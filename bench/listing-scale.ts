// `npm run bench -- --only listings` (issue 17, "Catalog and listings at scale"): Outpost and
// distribution 2.8, each given BENCH_CATALOG_REPOS (10,000) repositories and one repository of
// BENCH_TAGS (5,000) tags through the distribution API (one config blob, mounted into every
// repository with POST ?mount=&from=, and a config-only manifest per repository or tag: the
// same requests for both servers, so neither gets a hand-made store). Then, 8 at a time,
// BENCH_LIST_REQUESTS requests each of: `_catalog?n=50` from a random `last=`, the tags list
// `?n=50` from a random `last=`, and the whole 5,000-tag list; per request latency, p50 and p99,
// median over 3 interleaved rounds. A server that ignores `?n=` answers with larger pages: the
// items per answer are reported beside the latency.
import { expectStatus, RegistryClient } from './client.js'
import { OCI_MANIFEST, sha256 } from './payload.js'
import { spread } from './report.js'
import { haveDistribution, startDistribution, startOutpost, type Target } from './targets.js'
import { forEachInParallel } from './workloads.js'

export interface ListingScalePlan {
  repos: number
  tags: number
  requests: number
}

interface Latencies {
  target: string
  round: number
  p50Ms: number
  p99Ms: number
  itemsPerAnswer: number
}

export interface ListingFigure {
  label: string
  runs: Latencies[]
}

const CONCURRENCY = 8
const ROUNDS = 3
const BASE_REPO = 'scale/base'
const TAG_REPO = 'scale/tags'
const CONFIG = Buffer.from(
  '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}',
)

const repoName = (i: number) => `scale/r${String(i).padStart(5, '0')}`
const tagName = (i: number) => `t${String(i).padStart(5, '0')}`

function manifest(n: number): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(CONFIG),
        size: CONFIG.length,
      },
      layers: [],
      annotations: { 'bench.listing': String(n) },
    }),
  )
}

async function putManifest(client: RegistryClient, repo: string, tag: string, n: number) {
  const headers = { 'Content-Type': OCI_MANIFEST }
  const reply = await client.call('PUT', `/v2/${repo}/manifests/${tag}`, {
    headers,
    body: manifest(n),
  })
  expectStatus(reply, 201, `PUT ${repo}:${tag}`)
}

/** The config blob into `repo`: mounted from BASE_REPO, uploaded if the server will not mount. */
async function config(client: RegistryClient, repo: string, mount: boolean) {
  const digest = sha256(CONFIG)
  const query = mount ? `?mount=${digest}&from=${BASE_REPO}` : ''
  const reply = await client.call('POST', `/v2/${repo}/blobs/uploads/${query}`)
  if (reply.status === 201) return
  const location = client.resolve(expectStatus(reply, 202, `POST upload ${repo}`).headers.location)
  const path = `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`
  expectStatus(await client.call('PUT', path, { body: CONFIG }), 201, `PUT config ${repo}`)
}

export async function fixture(client: RegistryClient, target: Target, plan: ListingScalePlan) {
  const began = performance.now()
  await config(client, BASE_REPO, false)
  await putManifest(client, BASE_REPO, 'v1', -1)
  await forEachInParallel(plan.repos, 16, async (i) => {
    await config(client, repoName(i), true)
    await putManifest(client, repoName(i), 'v1', i)
  })
  const reposSeconds = (performance.now() - began) / 1000
  await config(client, TAG_REPO, true)
  await forEachInParallel(plan.tags, 16, (i) =>
    putManifest(client, TAG_REPO, tagName(i), plan.repos + i),
  )
  const tagsSeconds = (performance.now() - began) / 1000 - reposSeconds
  console.log(
    `  ${target.name}: ${plan.repos} repositories in ${reposSeconds.toFixed(1)} s, ` +
      `${plan.tags} tags in ${tagsSeconds.toFixed(1)} s`,
  )
}

/** A deterministic sequence in [0, 1) from a seed (xorshift32), so both servers get the same pages. */
function sequence(seed: number): () => number {
  let x = seed | 0 || 1
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 2 ** 32
  }
}

export async function latencies(
  client: RegistryClient,
  paths: string[],
  field: 'repositories' | 'tags',
): Promise<{ ms: number[]; items: number }> {
  const ms: number[] = []
  let items = 0
  await forEachInParallel(paths.length, CONCURRENCY, async (n) => {
    const began = process.hrtime.bigint()
    const reply = await client.call('GET', paths[n])
    ms.push(Number(process.hrtime.bigint() - began) / 1e6)
    expectStatus(reply, 200, `GET ${paths[n]}`)
    const list = (JSON.parse(reply.body.toString('utf8')) as Record<string, string[] | null>)[field]
    items += list?.length ?? 0
  })
  return { ms, items: items / paths.length }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

export function pathsOf(kind: number, plan: ListingScalePlan, round: number): string[] {
  const next = sequence(17 + round * 3 + kind)
  return Array.from({ length: plan.requests }, () => {
    if (kind === 0) return `/v2/_catalog?n=50&last=${repoName(Math.floor(next() * plan.repos))}`
    if (kind === 1)
      return `/v2/${TAG_REPO}/tags/list?n=50&last=${tagName(Math.floor(next() * plan.tags))}`
    return `/v2/${TAG_REPO}/tags/list`
  })
}

export async function listingScaleBench(repoRoot: string, plan: ListingScalePlan) {
  if (!haveDistribution()) throw new Error('the listings section needs docker-registry')
  const targets = [await startOutpost(repoRoot, {}, { shipped: true }), await startDistribution()]
  const clients = targets.map((t) => new RegistryClient(t.url, CONCURRENCY * 2))
  const figures: ListingFigure[] = [
    { label: '_catalog?n=50 (random last=)', runs: [] },
    { label: `tags list ?n=50 of ${plan.tags} tags (random last=)`, runs: [] },
    { label: `tags list of ${plan.tags} tags, whole`, runs: [] },
  ]
  try {
    console.log(`fixture: ${plan.repos} repositories and a ${plan.tags}-tag repository per server`)
    for (const [i, target] of targets.entries()) await fixture(clients[i], target, plan)
    for (let round = 0; round < ROUNDS; round++) {
      for (const [kind, figure] of figures.entries()) {
        const paths = pathsOf(kind, plan, round)
        const order = (round + kind) % 2 === 0 ? [0, 1] : [1, 0]
        for (const t of order) {
          const field = kind === 0 ? 'repositories' : 'tags'
          await latencies(clients[t], paths.slice(0, 200), field) // warm-up
          const { ms, items } = await latencies(clients[t], paths, field)
          ms.sort((a, b) => a - b)
          const run = {
            target: targets[t].name,
            round,
            p50Ms: percentile(ms, 50),
            p99Ms: percentile(ms, 99),
            itemsPerAnswer: items,
          }
          figure.runs.push(run)
          console.log(
            `  ${figure.label.padEnd(44)} ${run.target.padEnd(13)} p50 ${run.p50Ms.toFixed(2)} ms p99 ${run.p99Ms.toFixed(2)} ms, ${items.toFixed(0)} items/answer`,
          )
        }
      }
    }
  } finally {
    for (const client of clients) client.close()
    for (const target of targets) await target.stop()
  }
  printListingScale(figures, plan)
  return { plan, figures }
}

function printListingScale(figures: ListingFigure[], plan: ListingScalePlan): void {
  console.log(
    `\nListings at scale: ${plan.repos} repositories, C=${CONCURRENCY}, median of ${ROUNDS} rounds`,
  )
  console.log('| figure | Outpost p50 / p99 ms | distribution p50 / p99 ms | p99 ratio d/O | bar |')
  console.log('| --- | ---: | ---: | ---: | --- |')
  for (const { label, runs } of figures) {
    const of = (name: string, key: 'p50Ms' | 'p99Ms') =>
      spread(runs.filter((r) => r.target === name).map((r) => r[key])).median
    const o99 = of('Outpost', 'p99Ms')
    const ratio = of('distribution', 'p99Ms') / o99
    const pass = o99 <= 5 && ratio >= 5 ? 'PASS' : 'MISS'
    console.log(
      `| ${label} | ${of('Outpost', 'p50Ms').toFixed(2)} / ${o99.toFixed(2)} | ${of('distribution', 'p50Ms').toFixed(2)} / ${of('distribution', 'p99Ms').toFixed(2)} | ${ratio.toFixed(1)}x | ≤ 5 ms and ≥ 5x: ${pass} |`,
    )
  }
}
