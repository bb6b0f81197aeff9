// What the operator's page (src/ui/) is told about the running server: each store with its
// backend, free-space reserve, GC schedule and scrub report; the budget's pacing; the mirror's
// status; readiness. Only src/ui/lazy.ts is imported here: the page itself loads on first use.
import { readFileSync } from 'node:fs'
import type { OutpostConfig } from '../config/index.js'
import type { AppState, OperatorEndpoints } from '../http/index.js'
import type { Access } from '../auth/index.js'
import type { RegistryRouter } from '../registry/index.js'
import type { Budget } from '../budget/index.js'
import { lazyOperatorPage, type StoreSource } from '../ui/lazy.js'
import type { Upkeep } from './upkeep.js'
import type { OpenStores } from './stores.js'

export interface OperatorWiring {
  config: OutpostConfig
  router: RegistryRouter
  access: Access
  state: AppState
  stores: Array<{ route?: string; upkeep: Upkeep; storage: { registry: StoreSource['registry'] } }>
  hosted: OpenStores['hosted']
  budget: Budget
  mirrorStatus?: () => unknown
  log: (msg: string, fields?: Record<string, unknown>) => void
}

let version: string | undefined
function outpostVersion(): string {
  version ??= String(
    (
      JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
        version: unknown
      }
    ).version,
  )
  return version
}

export function operatorPage(w: OperatorWiring): OperatorEndpoints {
  const startedAt = Date.now()
  const stores: StoreSource[] = w.stores.map((s) => {
    const settings = s.route ? w.config.storage.subPaths![s.route] : w.config.storage
    return {
      label: `/${s.route ?? ''}`,
      backend: settings.storageDriver ? 's3' : 'filesystem',
      registry: s.storage.registry,
      minFreeSpace: settings.minFreeSpace,
      gc: () => {
        const t = s.upkeep.gcTiming()
        const totals = s.upkeep.collector.counters
        return {
          enabled: t.enabled,
          running: t.running,
          ...(t.lastPass && {
            lastPass: {
              endedAt: new Date(t.lastPass.endedAt).toISOString(),
              manifests: t.lastPass.result.manifests,
              blobs: t.lastPass.result.blobs,
              bytesFreed: t.lastPass.result.bytes,
            },
          }),
          ...(t.nextAt !== undefined && { nextPassAt: new Date(t.nextAt).toISOString() }),
          totals: { passes: totals.passes, bytesFreed: totals.bytesFreed },
        }
      },
      ...(s.upkeep.scrubber && { scrub: () => s.upkeep.scrubber!.lastReport() }),
    }
  })
  for (const h of w.hosted) {
    stores.push({
      label: `hosted:${h.mountAt}`,
      backend: 'filesystem (read-only)',
      registry: h.storage.registry,
    })
    // A hosted store has no upkeep: its records are built here, once, in the background.
    const registry = h.storage.registry
    if (!registry.summaries.records.complete()) {
      registry.summaries
        .backfill(
          () => registry.repositories(),
          () => false,
        )
        .catch((err: unknown) =>
          w.log('repository summaries failed', { hosted: h.path, error: String(err) }),
        )
    }
  }
  return lazyOperatorPage({
    router: w.router,
    access: w.access,
    pageEnabled: w.config.ui?.enabled === true,
    sources: {
      version: outpostVersion(),
      startedAt,
      stores,
      budget: () => ({ pausedFor: w.budget.pausedFor, counters: w.budget.counters }),
      ...(w.mirrorStatus && { mirror: w.mirrorStatus }),
      ready: async () => {
        if (!w.state.ready) return { ready: false, reason: 'starting or stopping' }
        const reports = await Promise.all(
          (w.state.backends ?? []).map(async (b) => ({
            store: b.store,
            ...(await b.health.report()),
          })),
        )
        const down = reports.filter((r) => !r.healthy)
        return down.length === 0 ? { ready: true } : { ready: false, reason: { unavailable: down } }
      },
    },
  })
}
