// Give memory back when the registry falls quiet. After a burst of requests V8 keeps the heap it
// grew (dead request objects, a young generation sized for the load) until its own memory
// reducer runs, ~25 s later; on a 1 GB board the memory is worth more to the page cache
// meanwhile. One full collection once nothing has been in flight for QUIET_MS measured 3-4 MiB
// less idle RSS right after a push. It needs --expose-gc (the unit's and `npm start`'s
// NODE_OPTIONS); without it nothing is scheduled.
import type { Server } from 'node:http'

/** How long the server must have had nothing to do before it collects. */
export const QUIET_MS = 250

type Collect = () => void

/** Collect once after each burst of requests; returns a function that stops it. */
export function collectWhenQuiet(server: Server, inFlight: () => number): () => void {
  const collect = (globalThis as { gc?: Collect }).gc
  if (!collect) return () => {}
  let busy = false
  const timer = setTimeout(() => {
    if (!busy) return
    // A long upload or download still running: look again later, not in the middle of it.
    if (inFlight() > 0) return void timer.refresh()
    busy = false
    collect()
  }, QUIET_MS)
  timer.unref()
  const onRequest = () => {
    busy = true
    timer.refresh()
  }
  server.on('request', onRequest)
  return () => {
    clearTimeout(timer)
    server.off('request', onRequest)
  }
}
