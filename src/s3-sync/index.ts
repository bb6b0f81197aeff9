// Public face of the S3 uplink: `outpost sync --to/--from` and the server's scheduled sync.
export { syncTo, emptyReport, type SyncOptions, type SyncReport, type SyncSource } from './push.js'
export { syncFrom } from './seed.js'
export { RateLimit, ContentMismatchError } from './streams.js'
export {
  openTarget,
  planSync,
  UnknownTargetError,
  type ClosableDriver,
  type SyncDrivers,
  type SyncPlan,
} from './plan.js'
export { scheduleUplink } from './schedule.js'
