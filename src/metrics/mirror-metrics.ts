// The periodic mirror's Prometheus metrics (issue 15), labelled by upstream and read from the
// mirror's running totals at scrape time, so the mirror knows nothing of prom-client. Registered
// only when a mirror runs: a server without one exports no outpost_mirror_* series.
import { Counter, Gauge, type Registry } from 'prom-client'
import type { MirrorTotals } from '../upstream/mirror/status.js'

export interface MirrorMetricSource {
  upstream: string
  totals: MirrorTotals
  inFlight: boolean
}

type Sample = [Record<string, string>, number]

export function registerMirrorMetrics(registry: Registry, read: () => MirrorMetricSource[]): void {
  const each = (pick: (s: MirrorMetricSource) => number) => (): Sample[] =>
    read().map((s) => [{ upstream: s.upstream }, pick(s)])
  const results = (): Sample[] =>
    read().flatMap((s) =>
      (['copied', 'upToDate', 'failed', 'skipped'] as const).map(
        (result) => [{ upstream: s.upstream, result }, s.totals.images[result]] as Sample,
      ),
    )
  const metric = (
    Kind: typeof Counter | typeof Gauge,
    name: string,
    help: string,
    samples: () => Sample[],
    labelNames = ['upstream'],
  ) =>
    new (Kind as typeof Gauge)({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        // A counter has no set(): reset and add the owner's running total instead.
        const m = this as unknown as {
          reset(): void
          set?: (labels: Record<string, string>, value: number) => void
          inc: (labels: Record<string, string>, value: number) => void
        }
        m.reset()
        for (const [labels, value] of samples()) {
          if (m.set) m.set(labels, value)
          else m.inc(labels, value)
        }
      },
    })
  metric(
    Counter,
    'outpost_mirror_bytes_total',
    'bytes the mirror fetched from the upstream',
    each((s) => s.totals.bytes),
  )
  metric(
    Counter,
    'outpost_mirror_images_total',
    'images a mirror pass handled, by result (copied, upToDate, failed, skipped: onlySigned)',
    results,
    ['upstream', 'result'],
  )
  metric(
    Counter,
    'outpost_mirror_failures_total',
    'images a mirror pass could not copy',
    each((s) => s.totals.images.failed),
  )
  metric(
    Counter,
    'outpost_mirror_passes_total',
    'finished mirror passes',
    each((s) => s.totals.passes),
  )
  metric(
    Gauge,
    'outpost_mirror_pass_duration_seconds',
    'duration of the last finished mirror pass',
    each((s) => s.totals.lastPassSeconds),
  )
  metric(
    Gauge,
    'outpost_mirror_in_flight',
    '1 while a mirror pass runs',
    each((s) => (s.inFlight ? 1 : 0)),
  )
}
