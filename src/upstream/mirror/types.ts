// The contract between the mirror engine (image-copy.ts, mirror-pass.ts) and what drives it
// (the scheduler, the `outpost mirror` command, the status endpoint). One pass copies what one
// upstream registry's content rules select into the store, paced by a Pacer, and says what it did.
import type { LogFn, RegistryRouter } from '../../registry/index.js'
import type { UpstreamClient } from '../upstream-client.js'

export interface Pacer {
  /** wait until `bytes` more may be transferred (bandwidth, window, CPU/memory budget) */
  take(bytes: number, signal?: AbortSignal): Promise<void>
}

/** No cap, no window: the `outpost mirror --once` default and tests. */
export const unpaced: Pacer = { take: async () => {} }

export interface MirrorDeps {
  /** where content lands (src/registry) */
  router: RegistryRouter
  /** the registry's upstream (auth, failover urls, retries) */
  client: UpstreamClient
  pacer: Pacer
  log: LogFn
  /** record that repo@digest came from the mirror (pinned: maxSize eviction never removes it) */
  pin(repo: string, digest: string): Promise<void>
}

export interface PassOptions {
  signal?: AbortSignal
  /** list what would be fetched (with sizes), write nothing */
  dryRun?: boolean
  progress?: (e: PassEvent) => void
}

export type PassEvent =
  | { kind: 'image-start'; repo: string; reference: string; bytes?: number }
  | { kind: 'bytes'; repo: string; n: number }
  | { kind: 'image-done'; repo: string; reference: string; digest: string; fetchedBytes: number }
  | { kind: 'image-failed'; repo: string; reference: string; error: string }
  | { kind: 'image-skipped'; repo: string; reference: string; digest: string; reason: string }
  | { kind: 'would-fetch'; repo: string; reference: string; digest: string; bytes: number }

export interface PassFailure {
  /** the local repository */
  repo: string
  reference: string
  /** the upstream's name (host of its first url) */
  upstream: string
  error: string
}

/** An image the pass left out on purpose (not a failure): zot's onlySigned skip. */
export interface PassSkip {
  /** the local repository */
  repo: string
  reference: string
  upstream: string
  /** the upstream's digest for `reference` */
  digest: string
  reason: string
}

export interface PassReport {
  upstream: string
  startedAt: number
  endedAt: number
  images: { copied: number; upToDate: number; failed: number; skipped: number }
  /** bytes fetched from the upstream (blobs and manifests) */
  bytes: number
  failures: PassFailure[]
  /** images left out on purpose, with why (onlySigned: not signed upstream) */
  skipped: PassSkip[]
  /** dryRun only: what would be fetched, `bytes` being what is missing locally */
  planned?: Array<{ repo: string; reference: string; digest: string; bytes: number }>
  /** absent: the pass went through every selected image */
  stoppedBy?: 'disk-full' | 'aborted' | 'upstream-unreachable'
  /** why the pass stopped, when it did (the upstream's error, the full disk) */
  reason?: string
}
