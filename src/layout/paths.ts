// Every storage key Outpost uses is built here, and nowhere else (docs/architecture.md §4).
//
//   <root>/
//     _outpost/                 engine state ('_' can never start a repository name)
//       index/                  LMDB environment: a cache, rebuilt from the layout when lost
//       lock                    held while a server or an offline command owns the storage
//       clean-stop              written at a clean shutdown, removed at start
//       tmp/                    staging for atomic writes (emptied at start)
//       quarantine/<alg>-<hex>-<id>  blobs whose bytes did not match their digest, kept as
//                               evidence out of every repository (src/registry/quarantine.ts)
//       hosted/<mountAt>/       engine state of a hosted directory (src/server/hosted-store.ts):
//                               its own index/, lock, clean-stop and tmp/, as above
//       blobs/<alg>/<hex>       content kept once for every repository holding it, on a store
//                               that dedupes without hard links (S3): each repository's
//                               blobs/<alg>/<hex> is then a reference object that names this key
//                               in its own metadata, so the bucket alone resolves it (see
//                               src/registry/blob-store.ts and src/storage/s3/s3-driver.ts)
//     <repo>/                   one OCI Image Layout per repository; names may contain '/'
//       oci-layout              {"imageLayoutVersion":"1.0.0"}
//       index.json              manifests; a tag is an org.opencontainers.image.ref.name annotation
//       blobs/<alg>/<hex>       content, manifests included
//       .uploads/<session-id>   in-flight uploads

/** What a blob key needs of a digest; the registry's Digest satisfies it. */
export interface BlobAddress {
  algorithm: string
  hex: string
}

export const ENGINE_DIR = '_outpost'
export const INDEX_DB_DIR = `${ENGINE_DIR}/index`
export const LOCK_FILE = `${ENGINE_DIR}/lock`
export const CLEAN_STOP_FILE = `${ENGINE_DIR}/clean-stop`
/** Staging for atomic writes; emptied when a store is opened. */
export const TMP_DIR = `${ENGINE_DIR}/tmp`
export const QUARANTINE_DIR = `${ENGINE_DIR}/quarantine`
export const HOSTED_DIR = `${ENGINE_DIR}/hosted`

export const OCI_LAYOUT_FILE = 'oci-layout'
export const INDEX_FILE = 'index.json'
export const BLOBS_DIR = 'blobs'
export const UPLOADS_DIR = '.uploads'

/** Path components a repository name may not contain: they would collide with layout entries. */
export const RESERVED_COMPONENTS: ReadonlySet<string> = new Set([
  OCI_LAYOUT_FILE,
  INDEX_FILE,
  BLOBS_DIR,
])

export const layoutKeys = {
  ociLayout: (repo: string) => `${repo}/${OCI_LAYOUT_FILE}`,
  index: (repo: string) => `${repo}/${INDEX_FILE}`,
  blobsDir: (repo: string) => `${repo}/${BLOBS_DIR}`,
  blobAlgorithmDir: (repo: string, algorithm: string) => `${repo}/${BLOBS_DIR}/${algorithm}`,
  blob: (repo: string, digest: BlobAddress) =>
    `${repo}/${BLOBS_DIR}/${digest.algorithm}/${digest.hex}`,
  /** the one shared copy of content on a store that dedupes by reference */
  sharedBlob: (digest: BlobAddress) =>
    `${ENGINE_DIR}/${BLOBS_DIR}/${digest.algorithm}/${digest.hex}`,
  sharedBlobAlgorithmDir: (algorithm: string) => `${ENGINE_DIR}/${BLOBS_DIR}/${algorithm}`,
  uploadsDir: (repo: string) => `${repo}/${UPLOADS_DIR}`,
  upload: (repo: string, sessionId: string) => `${repo}/${UPLOADS_DIR}/${sessionId}`,
  /** a staging name for an atomic write; `name` is unique (a UUID) */
  tmp: (name: string) => `${TMP_DIR}/${name}`,
  /** where a corrupt copy of `digest` is set aside; `id` (a UUID) keeps each copy apart */
  quarantined: (digest: BlobAddress, id: string) =>
    `${QUARANTINE_DIR}/${digest.algorithm}-${digest.hex}-${id}`,
  /** the engine state of the hosted directory served under `mountAt` */
  hostedState: (mountAt: string) => `${HOSTED_DIR}/${mountAt}`,
}

/** The content of every `oci-layout` file Outpost writes (image-spec image-layout.md). */
export const OCI_LAYOUT_CONTENT = JSON.stringify({ imageLayoutVersion: '1.0.0' })
