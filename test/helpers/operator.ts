// The operator's page (src/ui/) over a real store, driven in memory with app.request(): one
// store on a fresh root, the access rules given in zot's shape, and the page wired the way
// src/server/operator-wiring.ts wires it. Also seeds the images the page tests look at.
import { Access } from '../../src/auth/index.js'
import { createApp } from '../../src/http/index.js'
import { silentLogger } from '../../src/log/logger.js'
import { RegistryRouter } from '../../src/registry/index.js'
import { ownStorage, type OwnedStorage } from '../../src/server/storage-owner.js'
import { lazyOperatorPage } from '../../src/ui/lazy.js'
import { httpSettings } from './auth.js'
import { imageOf, makeImage, pushImage, sha256, tempDir, type TestImage } from './harness.js'

export interface OperatorApp {
  root: string
  storage: OwnedStorage
  app: ReturnType<typeof createApp>
  request(path: string, init?: RequestInit): Promise<Response>
  /** every summary refresh scheduled so far is done */
  settled(): Promise<void>
  close(): Promise<void>
}

export async function operatorApp(
  options: { root?: string; http?: Record<string, unknown>; pageEnabled?: boolean } = {},
): Promise<OperatorApp> {
  const root = options.root ?? (await tempDir('outpost-ui-'))
  const { FsDriver } = await import('../../src/storage/fs/index.js')
  const storage = await ownStorage({
    driver: new FsDriver({ root, commit: false }),
    localRoot: root,
    commit: false,
    log: () => {},
    holder: 'test',
  })
  const router = new RegistryRouter(storage.registry)
  const access = await Access.open(httpSettings(root, options.http ?? {}).access, () => {})
  const operator = lazyOperatorPage({
    router,
    access,
    pageEnabled: options.pageEnabled ?? true,
    sources: {
      version: '0.0.0-test',
      startedAt: Date.now(),
      stores: [{ label: '/', backend: 'filesystem', registry: storage.registry }],
      budget: () => ({ counters: {} }),
      ready: async () => ({ ready: true }),
    },
  })
  const app = createApp({ registry: router, logger: silentLogger, access, operator })
  return {
    root,
    storage,
    app,
    request: (path, init) => Promise.resolve(app.request(path, init)),
    settled: () => storage.registry.summaries.settled(),
    close: () => storage.close(),
  }
}

type Requester = (path: string, init?: RequestInit) => Promise<Response>

async function put(request: Requester, path: string, body: Buffer, type: string) {
  const res = await request(path, { method: 'PUT', headers: { 'Content-Type': type }, body })
  if (res.status !== 201) throw new Error(`PUT ${path}: ${res.status} ${await res.text()}`)
}

/** A two-platform index (linux/amd64, linux/arm64/v8) under `tag`; returns its digest. */
export async function pushIndex(request: Requester, repo: string, tag: string, seed: string) {
  const children: Array<{ image: TestImage; platform: Record<string, string> }> = [
    { image: platformImage(seed, 'amd64'), platform: { os: 'linux', architecture: 'amd64' } },
    {
      image: platformImage(seed, 'arm64', 'v8'),
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
    },
  ]
  for (const { image } of children) await pushImage(request, repo, image, image.digest)
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: children.map(({ image, platform }) => ({
        mediaType: image.mediaType,
        digest: image.digest,
        size: image.manifest.length,
        platform,
      })),
    }),
  )
  await put(
    request,
    `/v2/${repo}/manifests/${tag}`,
    index,
    'application/vnd.oci.image.index.v1+json',
  )
  return sha256(index)
}

function platformImage(seed: string, architecture: string, variant?: string): TestImage {
  const config = Buffer.from(
    JSON.stringify({
      architecture,
      os: 'linux',
      ...(variant && { variant }),
      created: '2026-11-02T08:00:00Z',
      seed,
    }),
  )
  return imageOf(config, [Buffer.from(`layer of ${seed} for ${architecture} `.repeat(2000))])
}

/** A referrer (an SBOM by default) of `subject` in `repo`; returns its digest. */
export async function pushReferrer(
  request: Requester,
  repo: string,
  subject: TestImage | { digest: string; mediaType: string; size: number },
  artifactType = 'application/spdx+json',
): Promise<string> {
  const size = 'manifest' in subject ? subject.manifest.length : subject.size
  const empty = Buffer.from('{}')
  const sbom = Buffer.from(JSON.stringify({ spdxVersion: 'SPDX-2.3', name: repo }))
  const image = imageOf(empty, [sbom], {
    artifactType,
    subject: { mediaType: subject.mediaType, digest: subject.digest, size },
  })
  await pushImage(request, repo, image, image.digest)
  return image.digest
}

export { makeImage, pushImage }
