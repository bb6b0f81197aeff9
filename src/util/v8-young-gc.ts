// Streamed bytes arrive in fresh buffers (a socket read, a file read): memory that V8 counts as
// external and frees only once a collection finds the buffers dead. At hundreds of MB/s that
// external memory eats the old generation's small headroom and sets off a full mark-compact
// every few MB (measured: 56 per GiB pushed, with --trace-gc). A young-generation collection
// every few MiB of streamed bytes frees the dead buffers first (4 mark-compacts per GiB), for
// about 20% less server CPU per pushed byte. It needs --expose-gc, which the launcher (bin/outpost:
// npm start, /usr/bin/outpost, the unit) passes node; without it this does nothing.

/** Streamed bytes between two young-generation collections. */
export const YOUNG_GC_EVERY_BYTES = 4 * 1024 * 1024

type Collect = (options: { type: 'minor' }) => void

let pending = 0

/** Count `bytes` of a stream that was just consumed; collect the young generation now and then. */
export function streamedBytes(bytes: number): void {
  pending += bytes
  if (pending < YOUNG_GC_EVERY_BYTES) return
  pending = 0
  // Looked up each time (a property read), so a process without the flag pays nothing more.
  ;(globalThis as { gc?: Collect }).gc?.({ type: 'minor' })
}
