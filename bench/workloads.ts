// The workloads, written once against the distribution-spec API so every target runs the same
// client code: a big blob pushed monolithic (POST, then PUT ?digest= carrying the whole body, the
// docker/skopeo way) and chunked (8 MiB PATCHes with Content-Range), pulled back with the digest
// checked, many small images pushed concurrently, and manifest GETs by tag and blob HEADs for a
// fixed time. Tags list and catalog pagination live in listing.ts.
import { createHash } from 'node:crypto'
import { expectStatus, type RegistryClient } from './client.js'
import { blockPieces, MIB, OCI_MANIFEST, smallImage, type SmallImage } from './payload.js'

export interface Plan {
  sizeMiB: number
  seconds: number
  /** how often each big-blob workload runs */
  runs: number
  /**
   * The big blobs, one per run, so a run never replaces the blob of the run before (dropping a
   * GiB of page cache inside the request would be timed). The first monolithic one is pulled.
   */
  monolithic: BigBlob[]
  /** pushed in chunks; the client computes the digest as it sends, and checks it against this */
  chunked: BigBlob[]
  images: SmallImage[]
  imageConcurrency: number
  /** concurrency of the manifest GETs, blob HEADs and listings */
  manifestConcurrency: number
  /** PATCH size of the chunked push (default 16 MiB; the comparison uses 8) */
  chunkMiB?: number
  /** seconds of each tags list and catalog run (default: `seconds`) */
  listSeconds?: number
  /** `?n=` of the tags list and catalog pages */
  pageSize?: number
  /** repositories the catalog fixture adds (listing.ts) */
  catalogRepos?: number
}

export interface BigBlob {
  seed: number
  digest: string
}

/** What the workloads of one target share: its client, and which small images it holds. */
export interface Bench {
  client: RegistryClient
  plan: Plan
  /** which run of a repeated workload this is, from 0 */
  attempt: number
  /** indexes of the small images pushed successfully, for the manifest GETs */
  pushed: number[]
  /** the repository the last small-image run pushed into */
  smallRepo?: string
}

export interface Outcome {
  value: number
  unit: 'MB/s' | 'images/s' | 'req/s'
  seconds: number
  /** bytes of blob content sent (pushes), for write amplification and CPU per GiB */
  pushedBytes?: number
  /** listings: page requests per full listing (a server may ignore `?n=`) */
  pagesPerListing?: number
  /** requests that failed without stopping the workload (small-image pushes) */
  failures?: { count: number; first: string }
}

const BIG_REPO = 'bench/big'
const SMALL_REPO = 'bench/small'
const CHUNK_MIB = 16
const OCTETS = 'application/octet-stream'
/** What docker sends when pulling by tag: the manifest types it can use. */
const ACCEPT_MANIFESTS = [
  OCI_MANIFEST,
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ')

export function since(began: bigint): number {
  return Number(process.hrtime.bigint() - began) / 1e9
}

function withDigest(path: string, digest: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`
}

function megabytesPerSecond(bytes: number, seconds: number): Outcome {
  return { value: bytes / 1e6 / seconds, unit: 'MB/s', seconds }
}

async function openUpload(client: RegistryClient, repo: string): Promise<string> {
  const reply = expectStatus(
    await client.call('POST', `/v2/${repo}/blobs/uploads/`),
    202,
    'POST upload',
  )
  return client.resolve(reply.headers.location)
}

export function expectDigest(actual: unknown, expected: string, what: string): void {
  if (actual !== expected)
    throw new Error(`${what}: digest ${String(actual)}, expected ${expected}`)
}

export async function pushMonolithic({ client, plan, attempt }: Bench): Promise<Outcome> {
  const { seed, digest } = plan.monolithic[attempt]
  const bytes = plan.sizeMiB * MIB
  const began = process.hrtime.bigint()
  const location = await openUpload(client, BIG_REPO)
  const headers = { 'Content-Type': OCTETS, 'Content-Length': bytes }
  const pieces = blockPieces(seed, 0, plan.sizeMiB)
  const reply = await client.stream('PUT', withDigest(location, digest), headers, pieces)
  expectStatus(reply, 201, 'PUT monolithic blob')
  const seconds = since(began)
  expectDigest(reply.headers['docker-content-digest'], digest, 'monolithic push')
  return { ...megabytesPerSecond(bytes, seconds), pushedBytes: bytes }
}

export async function pushChunked({ client, plan, attempt }: Bench): Promise<Outcome> {
  const { seed, digest: expected } = plan.chunked[attempt]
  const hash = createHash('sha256')
  const began = process.hrtime.bigint()
  let location = await openUpload(client, BIG_REPO)
  const chunkMiB = plan.chunkMiB ?? CHUNK_MIB
  for (let first = 0; first < plan.sizeMiB; first += chunkMiB) {
    const count = Math.min(chunkMiB, plan.sizeMiB - first)
    const start = first * MIB
    const headers = {
      'Content-Type': OCTETS,
      'Content-Length': count * MIB,
      'Content-Range': `${start}-${start + count * MIB - 1}`,
    }
    const pieces = blockPieces(seed, first, count)
    const reply = await client.stream('PATCH', location, headers, pieces, hash)
    expectStatus(reply, 202, `PATCH chunk at ${start}`)
    location = client.resolve(reply.headers.location)
  }
  const digest = `sha256:${hash.digest('hex')}`
  const reply = await client.call('PUT', withDigest(location, digest))
  expectStatus(reply, 201, 'PUT closing chunked upload')
  const seconds = since(began)
  expectDigest(digest, expected, 'chunked push (client hash)')
  expectDigest(reply.headers['docker-content-digest'], expected, 'chunked push')
  return { ...megabytesPerSecond(plan.sizeMiB * MIB, seconds), pushedBytes: plan.sizeMiB * MIB }
}

export async function pull({ client, plan }: Bench): Promise<Outcome> {
  const { digest } = plan.monolithic[0]
  const hash = createHash('sha256')
  const began = process.hrtime.bigint()
  const reply = await client.download(`/v2/${BIG_REPO}/blobs/${digest}`, hash)
  const seconds = since(began)
  if (reply.status !== 200) throw new Error(`GET blob: expected HTTP 200, got ${reply.status}`)
  if (reply.bytes !== plan.sizeMiB * MIB) throw new Error(`GET blob: ${reply.bytes} bytes`)
  expectDigest(`sha256:${hash.digest('hex')}`, digest, 'pulled blob')
  return megabytesPerSecond(reply.bytes, seconds)
}

async function pushSmallBlob(client: RegistryClient, repo: string, blob: Buffer, digest: string) {
  const location = await openUpload(client, repo)
  const headers = { 'Content-Type': OCTETS }
  const reply = await client.call('PUT', withDigest(location, digest), { headers, body: blob })
  expectStatus(reply, 201, 'PUT small blob')
}

/** One small image: its three blobs, then its manifest under `tag`. */
export async function pushImage(
  client: RegistryClient,
  repo: string,
  image: SmallImage,
  tag: string,
) {
  for (let i = 0; i < image.blobs.length; i++) {
    await pushSmallBlob(client, repo, image.blobs[i], image.blobDigests[i])
  }
  const headers = { 'Content-Type': OCI_MANIFEST }
  const path = `/v2/${repo}/manifests/${tag}`
  const reply = await client.call('PUT', path, { headers, body: image.manifest })
  expectStatus(reply, 201, 'PUT manifest')
  expectDigest(reply.headers['docker-content-digest'], image.manifestDigest, 'manifest push')
}

/** Seeds of the warm-up's own images, far from those of the measured ones. */
const WARM_UP_SEED = 900_000

export function tagOf(n: number): string {
  return `v${n}`
}

/** Run `worker` `concurrency` times in parallel; the first error fails the lot. */
export async function inParallel(concurrency: number, worker: (lane: number) => Promise<void>) {
  await Promise.all(Array.from({ length: concurrency }, (_, lane) => worker(lane)))
}

/** `task(n)` for every n below `count`, `concurrency` at a time, each lane taking the next n. */
export async function forEachInParallel(
  count: number,
  concurrency: number,
  task: (n: number) => Promise<void>,
): Promise<void> {
  let next = 0
  await inParallel(concurrency, async () => {
    for (let n = next++; n < count; n = next++) await task(n)
  })
}

/**
 * Requests for `seconds`, `concurrency` at a time, each lane rotating over `count` targets from
 * its own start; `request(n)` throws on a wrong answer. Returns requests per second.
 */
async function timedRotation(
  count: number,
  concurrency: number,
  seconds: number,
  request: (n: number) => Promise<void>,
): Promise<Outcome> {
  let done = 0
  const began = process.hrtime.bigint()
  const deadline = performance.now() + seconds * 1000
  await inParallel(concurrency, async (lane) => {
    for (let n = lane % count; performance.now() < deadline; n = (n + concurrency) % count) {
      await request(n)
      done++
    }
  })
  const elapsed = since(began)
  return { value: done / elapsed, unit: 'req/s', seconds: elapsed }
}

/**
 * Push every small image, `imageConcurrency` at a time, into a repository of this round's own
 * (so every round pushes for real). A failed image is counted and reported, not fatal: the
 * figures of the other workloads are still worth having.
 */
export async function pushImages(bench: Bench): Promise<Outcome> {
  const { client, plan } = bench
  const repo = `${SMALL_REPO}/r${bench.attempt}`
  bench.smallRepo = repo
  bench.pushed = []
  const failed: string[] = []
  const began = process.hrtime.bigint()
  await forEachInParallel(plan.images.length, plan.imageConcurrency, async (n) => {
    try {
      await pushImage(client, repo, plan.images[n], tagOf(n))
      bench.pushed.push(n)
    } catch (err) {
      failed.push(`image ${n}: ${(err as Error).message}`)
    }
  })
  const seconds = since(began)
  const outcome: Outcome = { value: bench.pushed.length / seconds, unit: 'images/s', seconds }
  if (failed.length > 0) outcome.failures = { count: failed.length, first: failed[0] }
  return outcome
}

/** Manifest GETs by tag, rotating over the pushed images, `manifestConcurrency` at a time. */
export async function getManifests(bench: Bench): Promise<Outcome> {
  const { client, plan, pushed } = bench
  if (pushed.length === 0) throw new Error('no small image was pushed: nothing to GET')
  const repo = bench.smallRepo ?? SMALL_REPO
  const paths = pushed.map((n) => `/v2/${repo}/manifests/${tagOf(n)}`)
  const digests = pushed.map((n) => plan.images[n].manifestDigest)
  const headers = { Accept: ACCEPT_MANIFESTS }
  return timedRotation(paths.length, plan.manifestConcurrency, plan.seconds, async (n) => {
    const reply = await client.call('GET', paths[n], { headers })
    if (reply.status !== 200 || reply.headers['docker-content-digest'] !== digests[n]) {
      expectStatus(reply, 200, `GET manifest ${paths[n]}`)
      expectDigest(reply.headers['docker-content-digest'], digests[n], 'manifest GET')
    }
  })
}

/** Blob HEADs over the pushed small images' blobs, `manifestConcurrency` at a time. */
export async function headBlobs(bench: Bench): Promise<Outcome> {
  const { client, plan, pushed } = bench
  if (pushed.length === 0) throw new Error('no small image was pushed: nothing to HEAD')
  const repo = bench.smallRepo ?? SMALL_REPO
  const blobs = pushed.flatMap((n) => {
    const image = plan.images[n]
    return image.blobDigests.map((digest, i) => ({ digest, size: image.blobs[i].length }))
  })
  const paths = blobs.map(({ digest }) => `/v2/${repo}/blobs/${digest}`)
  return timedRotation(paths.length, plan.manifestConcurrency, plan.seconds, async (n) => {
    const reply = await client.call('HEAD', paths[n])
    expectStatus(reply, 200, `HEAD ${paths[n]}`)
    if (Number(reply.headers['content-length']) !== blobs[n].size) {
      throw new Error(`HEAD ${paths[n]}: Content-Length ${reply.headers['content-length']}`)
    }
  })
}

/** Small images pushed by the warm-up: enough for a JIT to have compiled the push path. */
export const WARM_UP_IMAGES = 50

/**
 * Exercise every code path, so the first measured request does not pay for JIT or caches: a
 * server that has just started (a JIT still compiling) is not what a registry serves with.
 * `image` is pushed last and read back; WARM_UP_IMAGES other small images go first, 8 at a time.
 */
export async function warmUp(client: RegistryClient, image: SmallImage): Promise<void> {
  for (let i = 0; i < 20; i++) expectStatus(await client.call('GET', '/v2/'), 200, 'GET /v2/')
  await forEachInParallel(WARM_UP_IMAGES, 8, (n) =>
    pushImage(client, 'bench/warmup', smallImage(WARM_UP_SEED + n), `w${n}`),
  )
  await pushImage(client, 'bench/warmup', image, 'warm')
  const headers = { Accept: ACCEPT_MANIFESTS }
  for (let i = 0; i < 200; i++) {
    expectStatus(
      await client.call('GET', '/v2/bench/warmup/manifests/warm', { headers }),
      200,
      'warm-up GET',
    )
  }
  for (let i = 0; i < 20; i++) {
    const path = `/v2/bench/warmup/blobs/${image.blobDigests[1]}`
    expectStatus(await client.call('GET', path), 200, 'warm-up blob GET')
    expectStatus(await client.call('HEAD', path), 200, 'warm-up blob HEAD')
  }
}
