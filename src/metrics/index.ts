// Public face of the metrics: prom-client registry per server, HTTP observer and endpoint.
export {
  MAX_REPOSITORY_LABELS,
  OTHER_REPOSITORY,
  OutpostMetrics,
  type MetricSource,
} from './outpost-metrics.js'
export { installMetrics, type MetricsRouteOptions } from './http-metrics.js'
