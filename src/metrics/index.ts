// Public face of the metrics: prom-client registry per server (the HTTP observer and endpoint: http/http-metrics.ts).
export {
  MAX_REPOSITORY_LABELS,
  OTHER_REPOSITORY,
  OutpostMetrics,
  type MetricSource,
} from './outpost-metrics.js'
