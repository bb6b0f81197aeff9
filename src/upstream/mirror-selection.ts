// What the periodic mirror takes from an upstream, decided from the content rules alone (no
// I/O): which repositories (content-map.ts names them), which of their tags (zot's
// content.tags), and which children of an image index (Outpost's content.platforms).
// Pull-through asks the same questions of a single request, so both answer alike.
import type { ContentRule } from '../config/sync.js'
import {
  compileTagRegex,
  isSemverTag,
  parsePlatform,
  type Platform,
} from '../config/sync-grammar.js'
import { fixedName, mapUpstream } from './content-map.js'

export interface SelectedRepository {
  upstream: string
  local: string
  rule: ContentRule
}

/**
 * The upstream repositories (from its catalog) the rules cover, with their local names; or,
 * when the upstream lists none (a catalog it forbids, as Docker Hub does), the repositories
 * prefixes without wildcards name.
 */
export function selectRepositories(
  rules: readonly ContentRule[],
  catalog: readonly string[] | undefined,
): SelectedRepository[] {
  const names = catalog ?? rules.flatMap((r) => fixedName(r) ?? [])
  const seen = new Set<string>()
  const out: SelectedRepository[] = []
  for (const upstream of names) {
    const mapped = mapUpstream(rules, upstream)
    if (!mapped || seen.has(upstream)) continue
    seen.add(upstream)
    out.push({ upstream, local: mapped.local, rule: mapped.rule })
  }
  return out
}

// Tags that name a manifest's referrers rather than an image: cosign's `sha256-<hex>.sig`,
// `.att`, `.sbom`, and the distribution-spec's referrers tag schema `sha256-<hex>` ("Referrers
// Tag Schema"). zot syncs them with the manifest they belong to, never through tag filters.
const COSIGN_TAG = /^(?:sha256-[a-f0-9]{64}|sha512-[a-f0-9]{128})\.(?:sig|att|sbom)$/
const REFERRERS_TAG = /^(?:sha256-[a-f0-9]{64}|sha512-[a-f0-9]{128})$/

/** 'cosign' or 'referrers' for a tag that stands for another manifest's referrers. */
export function referrerTagKind(tag: string): 'cosign' | 'referrers' | undefined {
  if (COSIGN_TAG.test(tag)) return 'cosign'
  if (REFERRERS_TAG.test(tag)) return 'referrers'
  return undefined
}

/**
 * Whether zot's content.tags keeps `tag` (zot: FilterTags): it matches `regex`, does not match
 * `excludeRegex`, and parses as a semantic version when `semver` is set; all must hold.
 */
export function tagWanted(rule: ContentRule, tag: string): boolean {
  const f = rule.tags
  if (!f) return true
  if (f.regex !== undefined && !compileTagRegex(f.regex).test(tag)) return false
  if (f.excludeRegex !== undefined && compileTagRegex(f.excludeRegex).test(tag)) return false
  return !f.semver || isSemverTag(tag)
}

/** The image tags of a repository the mirror takes: referrer tags go with their subject. */
export function selectTags(rule: ContentRule, tags: readonly string[]): string[] {
  return tags.filter((t) => !referrerTagKind(t) && tagWanted(rule, t))
}

/** Whether pull-through fetches `tag` on demand: the filters apply, referrer tags pass. */
export function tagServed(rule: ContentRule, tag: string): boolean {
  return referrerTagKind(tag) !== undefined || tagWanted(rule, tag)
}

/** An image index's child as image-index.md describes it. */
export interface IndexChild {
  digest: string
  mediaType?: string
  platform?: { os?: string; architecture?: string; variant?: string }
  annotations?: Record<string, string>
}

// containerd's normalisation (platforms.Normalize): the variant a platform means when it names
// none, so "linux/arm64/v8" and an arm64 child without a variant are the same platform.
const DEFAULT_VARIANT: Record<string, string> = { arm64: 'v8', arm: 'v7', amd64: 'v1' }
const ARCH_ALIASES: Record<string, string> = {
  aarch64: 'arm64',
  x86_64: 'amd64',
  'x86-64': 'amd64',
}

/**
 * Whether an index child's platform is one `wanted` asks for (image-spec image-index.md,
 * "platform"): os and architecture equal; a wanted platform without a variant takes every
 * variant of its architecture ("linux/arm" takes v6 and v7); with one it takes that variant,
 * a child naming none counting as its architecture's default (arm64 v8, arm v7, amd64 v1).
 * os.version and os.features are not compared: a rule cannot name them.
 */
export function platformMatches(wanted: Platform, have: IndexChild['platform']): boolean {
  if (!have?.os || !have.architecture) return false
  const arch = have.architecture.toLowerCase()
  const architecture = ARCH_ALIASES[arch] ?? arch
  if (have.os.toLowerCase() !== wanted.os || architecture !== wanted.architecture) return false
  if (wanted.variant === undefined) return true
  const variant = have.variant?.toLowerCase() ?? DEFAULT_VARIANT[architecture]
  return variant === wanted.variant
}

// BuildKit stores an image's provenance and SBOM as an index child of platform unknown/unknown
// pointing at the image it describes (docs: "attestation storage").
const ATTESTATION_TYPE = 'vnd.docker.reference.type'
const ATTESTATION_OF = 'vnd.docker.reference.digest'
const isAttestation = (c: IndexChild) =>
  c.annotations?.[ATTESTATION_TYPE] === 'attestation-manifest'

/**
 * The children of an index the mirror fetches, in index order. Without `platforms` all of them.
 * With it: the children of a wanted platform; children without a platform (not specific to one,
 * per image-index.md); and, when `referrers` is on, BuildKit attestations of a taken child.
 */
export function selectChildren<T extends IndexChild>(
  children: readonly T[],
  platforms: readonly Platform[] | undefined,
  referrers: boolean,
): T[] {
  if (!platforms) return [...children]
  const taken = new Set<string>()
  for (const c of children) {
    if (isAttestation(c)) continue
    if (!c.platform || platforms.some((p) => platformMatches(p, c.platform))) taken.add(c.digest)
  }
  return children.filter((c) => {
    if (!isAttestation(c)) return taken.has(c.digest)
    const of = c.annotations?.[ATTESTATION_OF]
    return referrers && of !== undefined && taken.has(of)
  })
}

/** Platforms as the configuration writes them, for callers holding text (tests, the CLI). */
export function platformsOf(texts: readonly string[]): Platform[] {
  return texts.map(parsePlatform)
}
