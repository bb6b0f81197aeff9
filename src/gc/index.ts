// Public face of background storage upkeep: GC passes, their schedule, the startup dedupe pass.
export { GarbageCollector, type GcCounters, type GcPassResult } from './collector.js'
export { scheduleGc, realTimers, type Timers } from './scheduler.js'
export { runDedupePass, type DedupePassResult } from '../dedupe/dedupe-pass.js'
export { globToRegExp, matchesAny } from '../util/glob.js'
