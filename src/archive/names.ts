// Image names as archives carry them and as the CLI takes them. An OCI layout names its images
// with org.opencontainers.image.ref.name (skopeo writes a bare tag, "latest"; Outpost writes
// "repo:tag"; containerd adds io.containerd.image.name); a docker-archive with RepoTags
// ("docker.io/team/app:v1"). A registry host in front ("docker.io/", "example.com:5000/") is
// dropped: the image lands in this registry's repository of the same path.
import { ArchiveError } from './entries.js'

export const REF_NAME = 'org.opencontainers.image.ref.name'
export const CONTAINERD_NAME = 'io.containerd.image.name'

const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/

export interface Target {
  repo?: string
  tag?: string
  digest?: string
}

export function isTag(text: string): boolean {
  return TAG.test(text)
}

/** Without a leading registry host (a first component with a dot, a port, or "localhost"). */
function withoutHost(name: string): string {
  const slash = name.indexOf('/')
  if (slash === -1) return name
  const first = name.slice(0, slash)
  return /[.:]/.test(first) || first === 'localhost' ? name.slice(slash + 1) : name
}

/** "repo", "repo:tag", "repo@digest" or "host/repo:tag" -> its parts (the host dropped). */
export function parseImageName(text: string): Target {
  const at = text.indexOf('@')
  if (at !== -1) {
    const digest = text.slice(at + 1)
    if (!DIGEST.test(digest)) throw new ArchiveError(`invalid digest in ${JSON.stringify(text)}`)
    return { repo: withoutHost(text.slice(0, at)), digest }
  }
  const colon = text.lastIndexOf(':')
  if (colon > text.lastIndexOf('/')) {
    const tag = text.slice(colon + 1)
    if (!isTag(tag)) throw new ArchiveError(`invalid tag in ${JSON.stringify(text)}`)
    return { repo: withoutHost(text.slice(0, colon)), tag }
  }
  return { repo: withoutHost(text) }
}

/** What an OCI index.json descriptor's annotations say about its name. */
export function layoutTarget(annotations: Record<string, string> | undefined): Target {
  const ref = annotations?.[REF_NAME]
  const containerd = annotations?.[CONTAINERD_NAME]
  const named = containerd ? parseImageName(containerd) : {}
  if (ref === undefined) return named
  // A bare tag (skopeo, docker): the repository, if any, comes from containerd's annotation.
  if (isTag(ref)) return { repo: named.repo, tag: ref }
  return parseImageName(ref)
}

/** The ref.name Outpost writes for an exported image: "repo:tag", or "repo@digest". */
export function refNameOf(target: { repo: string; tag?: string; digest: string }): string {
  return target.tag ? `${target.repo}:${target.tag}` : `${target.repo}@${target.digest}`
}
