// zot's subPaths behind one API: the registry a repository lives in is chosen by the first
// segment of its name ("a/app" and "a" go to the store routed "a"); every other name goes to the
// default store. Catalog listing merges the stores; a mount never crosses two of them.
import { lexical } from '../layout/index.js'
import { listingOrder } from './repo-catalog.js'
import type { Digest } from './digest.js'
import type { Registry } from './registry.js'

export class RegistryRouter {
  private readonly routes: ReadonlyMap<string, Registry>
  private readonly hosted: ReadonlyMap<string, Registry>

  /**
   * `routes`: route without its slash ("a" for zot's "/a") -> that subpath's registry.
   * `hosted`: a name ("usb", "usb/alpine") -> the read-only store serving it and every name
   * under it (Outpost's `hosting`); checked before the routes.
   */
  constructor(
    readonly defaultRegistry: Registry,
    routes: Record<string, Registry> = {},
    hosted: Record<string, Registry> = {},
  ) {
    this.routes = new Map(Object.entries(routes))
    this.hosted = new Map(Object.entries(hosted))
  }

  /** The registry of `repo` (a name already checked with checkRepoName). */
  for(repo: string): Registry {
    for (const [name, registry] of this.hosted)
      if (repo === name || repo.startsWith(`${name}/`)) return registry
    const slash = repo.indexOf('/')
    const first = slash === -1 ? repo : repo.slice(0, slash)
    return this.routes.get(first) ?? this.defaultRegistry
  }

  /** Whether `registry` is a read-only hosted store (Outpost's `hosting`). */
  isHosted(registry: Registry): boolean {
    for (const hosted of this.hosted.values()) if (hosted === registry) return true
    return false
  }

  /** Every store's registry, the default one first. */
  registries(): Registry[] {
    return [this.defaultRegistry, ...this.routes.values(), ...this.hosted.values()]
  }

  /**
   * All stores' repositories in lexical order. A store lists only what the router would send
   * to it: a layout copied into a subpath's root under another first segment (or into the
   * default root under a routed one) could not be pulled, so listing it would be a lie.
   */
  async repositories(): Promise<string[]> {
    const lists = await Promise.all(
      this.registries().map(async (registry) =>
        (await registry.repositories()).filter((repo) => this.for(repo) === registry),
      ),
    )
    return lists.flat().sort(lexical)
  }

  /** As `repositories`, in listing order, from each store's kept list (GET /v2/_catalog). */
  async catalog(): Promise<readonly string[]> {
    const registries = this.registries()
    if (registries.length === 1) return registries[0].catalogNames()
    const lists = await Promise.all(
      registries.map(async (registry) =>
        (await registry.catalogNames()).filter((repo) => this.for(repo) === registry),
      ),
    )
    return lists.flat().sort(listingOrder)
  }

  /**
   * Cross-repository mount (distribution-spec "Mounting a blob"). Across two stores there is
   * nothing to link or copy inside one backend: false, and the client uploads the blob into a
   * new session, as the spec lets a registry that cannot mount answer.
   */
  async mountBlob(repo: string, digest: Digest, from: string): Promise<boolean> {
    const target = this.for(repo)
    if (this.for(from) !== target) return false
    return target.mountBlob(repo, digest, from)
  }
}
