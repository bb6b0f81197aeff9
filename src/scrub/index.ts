// Public face of scrub.
export { Scrubber, type ScrubCounters, type ScrubReport } from './scrubber.js'
export {
  scrubRegistryRepository,
  type HashMemo,
  type RepoScrubResult,
  type ScrubContext,
  type ScrubItem,
} from './repo-scrub.js'
