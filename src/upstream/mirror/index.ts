// Public face of src/upstream/mirror: the periodic mirror's engine (issue 15).
export {
  unpaced,
  type MirrorDeps,
  type Pacer,
  type PassEvent,
  type PassFailure,
  type PassOptions,
  type PassReport,
  type PassSkip,
} from './types.js'
export { runMirrorPass } from './mirror-pass.js'
export { copyImage, refreshImage, type CopyOutcome, type CopyScope } from './image-copy.js'
