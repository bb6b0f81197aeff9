// What an archive asks the registry to store, decided from its metadata and the entries already
// collected (and verified): per image, the repository and tags, the manifests leaf first, and
// the blobs. An OCI layout keeps its manifests byte for byte. A docker-archive ("docker save":
// manifest.json, <config>.json, <layer>.tar) becomes an OCI image manifest the way skopeo reads
// one: the config file's bytes are the config blob (its digest is the image ID) and each layer
// file's bytes are a layer blob, so every digest stays checkable against the archive; a layer
// must match its diff_id in the config, decompressed first when it is gzip.
import { createHash } from 'node:crypto'
import { ArchiveError } from './entries.js'
import type { Collected, Collection } from './collector.js'
import { isTag, layoutTarget, parseImageName, type Target } from './names.js'

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json'
const INDEX_TYPES = new Set([OCI_INDEX, DOCKER_LIST])
const NON_DISTRIBUTABLE = /foreign|nondistributable/

export interface PlannedManifest {
  digest: string
  mediaType: string
  bytes: Buffer
}

export interface PlannedImage {
  repo: string
  /** tags to set; none: stored by digest only */
  tags: string[]
  top: PlannedManifest
  /** an index's children (and theirs), leaf first */
  children: PlannedManifest[]
  /** configs and layers */
  blobs: string[]
}

export type ArchiveFormat = 'oci' | 'docker'

interface Descriptor {
  mediaType?: string
  digest?: string
  size?: number
  annotations?: Record<string, string>
}

interface DockerItem {
  Config?: string
  RepoTags?: string[] | null
  Layers?: string[]
}

function json<T>(bytes: Buffer, what: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T
  } catch (err) {
    throw new ArchiveError(`${what} is not valid JSON: ${(err as Error).message}`)
  }
}

export function formatOf(collection: Collection): ArchiveFormat {
  if (collection.metadata.has('index.json')) return 'oci'
  if (collection.metadata.has('manifest.json')) return 'docker'
  throw new ArchiveError(
    'neither an OCI image layout (no index.json) nor a docker-archive (no manifest.json)',
  )
}

/** Every top-level image's name, from the metadata alone (known before any blob is staged). */
export function targetsOf(collection: Collection, override: Target | undefined): Target[] {
  let found: Target[]
  if (formatOf(collection) === 'oci') {
    const layout = collection.metadata.get('oci-layout')
    if (
      layout &&
      json<{ imageLayoutVersion?: string }>(layout, 'oci-layout').imageLayoutVersion !== '1.0.0'
    ) {
      throw new ArchiveError('oci-layout: unsupported imageLayoutVersion (1.0.0 expected)')
    }
    const index = json<{ manifests?: Descriptor[] }>(
      collection.metadata.get('index.json')!,
      'index.json',
    )
    found = (index.manifests ?? []).map((d) => layoutTarget(d.annotations))
  } else {
    const items = json<DockerItem[]>(collection.metadata.get('manifest.json')!, 'manifest.json')
    if (!Array.isArray(items)) throw new ArchiveError('manifest.json is not a list of images')
    found = items.map((item) => {
      const names = (item.RepoTags ?? []).map(parseImageName)
      return { repo: names[0]?.repo, tag: names[0]?.tag }
    })
  }
  if (found.length === 0) throw new ArchiveError('the archive holds no image')
  if (override?.tag && found.length > 1) {
    throw new ArchiveError(
      `the archive holds ${found.length} images: --repo NAME:TAG can name only one (use --repo NAME)`,
    )
  }
  return found.map((t) => {
    const repo = override?.repo ?? t.repo
    if (!repo) {
      throw new ArchiveError(
        'the archive does not name a repository for its image: give --repo NAME',
      )
    }
    return { repo, tag: override?.tag ?? t.tag }
  })
}

function manifestBytes(collection: Collection, digest: string, what: string): Collected {
  const found = collection.byDigest.get(digest)
  if (!found) throw new ArchiveError(`the archive lacks ${what} ${digest}`)
  if (!found.bytes) throw new ArchiveError(`${what} ${digest} is too large to import`)
  return found
}

/** The import of an OCI layout: index.json's entries, their manifests walked down to blobs. */
export function planOci(collection: Collection, targets: Target[]): PlannedImage[] {
  const index = json<{ manifests?: Descriptor[] }>(
    collection.metadata.get('index.json')!,
    'index.json',
  )
  return (index.manifests ?? []).map((desc, i) => {
    const children: PlannedManifest[] = []
    const blobs = new Set<string>()
    const walk = (d: Descriptor, where: string, depth: number): PlannedManifest => {
      if (typeof d.digest !== 'string') throw new ArchiveError(`${where} has no digest`)
      if (depth > 8) throw new ArchiveError(`${where}: indexes nested too deep`)
      const found = manifestBytes(collection, d.digest, 'manifest')
      const parsed = json<{
        mediaType?: string
        manifests?: Descriptor[]
        config?: Descriptor
        layers?: Descriptor[]
      }>(found.bytes!, `manifest ${d.digest}`)
      const mediaType = d.mediaType ?? parsed.mediaType ?? OCI_MANIFEST
      if (INDEX_TYPES.has(mediaType)) {
        for (const [n, child] of (parsed.manifests ?? []).entries()) {
          children.push(walk(child, `${d.digest} manifests[${n}]`, depth + 1))
        }
      } else {
        for (const blob of [parsed.config, ...(parsed.layers ?? [])]) {
          if (!blob?.digest)
            throw new ArchiveError(`manifest ${d.digest} has a descriptor without digest`)
          const held = collection.byDigest.get(blob.digest)
          if (!held && NON_DISTRIBUTABLE.test(blob.mediaType ?? '')) continue
          if (held && blob.size !== undefined && held.size !== blob.size) {
            throw new ArchiveError(
              `manifest ${d.digest} gives ${blob.digest} ${blob.size} bytes, the archive holds ${held.size}`,
            )
          }
          blobs.add(blob.digest)
        }
      }
      return { digest: d.digest, mediaType, bytes: found.bytes! }
    }
    const top = walk(desc, `index.json manifests[${i}]`, 0)
    const t = targets[i]
    return {
      repo: t.repo!,
      tags: t.tag ? [t.tag] : [],
      top,
      children: children.filter((c) => c.digest !== top.digest),
      blobs: [...blobs],
    }
  })
}

/** The import of a docker-archive: one OCI image manifest per manifest.json entry. */
export function planDocker(
  collection: Collection,
  targets: Target[],
  override: Target | undefined,
): PlannedImage[] {
  const items = json<DockerItem[]>(collection.metadata.get('manifest.json')!, 'manifest.json')
  return items.map((item, i) => {
    const what = `manifest.json entry ${i}`
    const file = (name: string | undefined, role: string): Collected => {
      if (typeof name !== 'string') throw new ArchiveError(`${what} names no ${role}`)
      const found = collection.resolve(name)
      if (!found) throw new ArchiveError(`the archive lacks ${role} ${name}`)
      return found
    }
    const config = file(item.Config, 'config')
    if (!config.bytes) throw new ArchiveError(`config ${item.Config} is too large to import`)
    const diffIds =
      json<{ rootfs?: { diff_ids?: string[] } }>(config.bytes, `config ${item.Config}`).rootfs
        ?.diff_ids ?? []
    const layerNames = item.Layers ?? []
    if (diffIds.length !== layerNames.length) {
      throw new ArchiveError(
        `${what}: ${layerNames.length} layers, but its config lists ${diffIds.length} diff_ids`,
      )
    }
    const layers = layerNames.map((name, n) => {
      const layer = file(name, 'layer')
      const diffId = layer.gzip ? layer.uncompressed : layer.digest
      if (diffId !== diffIds[n]) {
        throw new ArchiveError(
          `layer ${name} does not match its diff_id ${diffIds[n]} (its content is ${diffId ?? 'not valid gzip'})`,
        )
      }
      return {
        mediaType: `application/vnd.oci.image.layer.v1.tar${layer.gzip ? '+gzip' : ''}`,
        digest: layer.digest,
        size: layer.size,
      }
    })
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: config.digest,
        size: config.size,
      },
      layers,
    }
    const bytes = Buffer.from(JSON.stringify(manifest))
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`
    // Every RepoTag of the repository chosen becomes a tag (docker save a:1 a:2 holds both).
    const t = targets[i]
    const tags = override?.tag
      ? [override.tag]
      : (item.RepoTags ?? [])
          .map(parseImageName)
          .filter((n) => override?.repo || n.repo === t.repo)
          .map((n) => n.tag)
          .filter((tag): tag is string => tag !== undefined && isTag(tag))
    return {
      repo: t.repo!,
      tags: [...new Set(tags)],
      top: { digest, mediaType: OCI_MANIFEST, bytes },
      children: [],
      blobs: [config.digest, ...layers.map((l) => l.digest)],
    }
  })
}
