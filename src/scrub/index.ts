// Public face of scrub.
export { Scrubber, type ScrubCounters, type ScrubReport } from './scrubber.js'
