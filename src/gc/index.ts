// Public face of garbage collection: per-repository passes, the collector and its schedule.
export { GarbageCollector, type GcCounters, type GcPassResult } from './collector.js'
export { scheduleGc, realTimers, type Timers } from './scheduler.js'
export { collectGarbage, type GcPolicy, type RepoGcResult } from './repo-gc.js'
