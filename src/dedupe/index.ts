// Public face of dedupe over content already stored: the startup pass and its per-blob unit.
// (Dedupe on write is the registry's sharing strategy: registry/blob-store.ts.)
export { runDedupePass, type DedupePassResult } from './dedupe-pass.js'
export { dedupeBlob, type DedupeContext, type DedupeOutcome } from './dedupe-existing.js'
