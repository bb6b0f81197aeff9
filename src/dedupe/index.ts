// Public face of dedupe: the three ways a store shares identical content (registry/sharing.ts),
// one chosen when the store opens (server/storage-owner.ts), and the startup pass over content
// already stored, with its per-blob unit.
export { ShareByLink, hasLink, type LinkingDriver } from './share-by-link.js'
export { ShareByReference } from './share-by-reference.js'
export { ShareByCopy } from './share-by-copy.js'
export { SharedContent } from './shared-content.js'
export { runDedupePass, type DedupePassResult } from './dedupe-pass.js'
export { dedupeBlob, type DedupeContext, type DedupeOutcome } from './dedupe-existing.js'
