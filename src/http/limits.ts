// Per-client limits on requests: zot's http.ratelimit (a token bucket per client address, 429
// TOOMANYREQUESTS with Retry-After) and an idle timeout on request bodies that is based on
// progress: a body that delivers no bytes for the configured time is cut, however long the whole
// upload takes. Never a whole-request deadline: zot's 60 s one broke large pushes (its #4079).
// Both settings are read per request, so a SIGHUP reload changes them for the next request.
import type { MiddlewareHandler } from 'hono'
import type { RateLimitSettings } from '../config/ops.js'
import type { Logger } from '../log/logger.js'
import { RegistryError } from '../registry/index.js'
import { hasBody, type AppEnv } from './body.js'
import { errorReply } from '../api/errors.js'

/** Buckets kept before idle (full) ones are dropped: bounded memory under many clients. */
const MAX_BUCKETS = 10_000

interface Bucket {
  tokens: number
  at: number
}

/** One token bucket per client (and per method that has its own rate). */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>()

  constructor(
    readonly settings: RateLimitSettings,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Take a token: 0 when allowed, else the milliseconds until one is available. */
  take(client: string, method: string): number {
    const own = this.settings.methods[method]
    const rate = own ?? this.settings.rate
    if (rate === undefined) return 0
    const key = `${own === undefined ? '*' : method} ${client}`
    const now = this.now()
    // A burst of one second's worth (at least one request), refilled continuously.
    const capacity = Math.max(1, rate)
    let bucket = this.buckets.get(key)
    if (!bucket) {
      if (this.buckets.size >= MAX_BUCKETS) this.dropIdle(now)
      bucket = { tokens: capacity, at: now }
      this.buckets.set(key, bucket)
    }
    bucket.tokens = Math.min(capacity, bucket.tokens + ((now - bucket.at) / 1000) * rate)
    bucket.at = now
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return 0
    }
    return ((1 - bucket.tokens) / rate) * 1000
  }

  private dropIdle(now: number): void {
    for (const [key, b] of this.buckets) {
      const method = key.slice(0, key.indexOf(' '))
      const rate = this.settings.methods[method] ?? this.settings.rate ?? 1
      if (b.tokens + ((now - b.at) / 1000) * rate >= Math.max(1, rate)) this.buckets.delete(key)
    }
    // Still full of active clients: forget the oldest rather than grow without bound.
    while (this.buckets.size >= MAX_BUCKETS) {
      this.buckets.delete(this.buckets.keys().next().value!)
    }
  }
}

/** The limits in force; `update` (SIGHUP) replaces them for the requests that follow. */
export class HttpLimits {
  ratelimit?: TokenBuckets
  uploadIdleTimeoutMs = 0

  constructor(settings: { ratelimit?: RateLimitSettings; uploadIdleTimeoutMs?: number } = {}) {
    this.update(settings)
  }

  update(settings: { ratelimit?: RateLimitSettings; uploadIdleTimeoutMs?: number }): void {
    const same =
      JSON.stringify(settings.ratelimit) === JSON.stringify(this.ratelimit?.settings) &&
      this.ratelimit !== undefined
    if (!same) this.ratelimit = settings.ratelimit && new TokenBuckets(settings.ratelimit)
    this.uploadIdleTimeoutMs = settings.uploadIdleTimeoutMs ?? 0
  }
}

/** Rate limit first, then watch the body of the requests that carry one. */
export function limitRequests(limits: HttpLimits, logger: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const incoming = c.env?.incoming
    const waitMs = limits.ratelimit?.take(incoming?.socket?.remoteAddress ?? 'local', c.req.method)
    if (waitMs) {
      c.set('route', 'ratelimited')
      // RFC 6585 §4: Retry-After tells the client when to come back, in whole seconds.
      c.header('Retry-After', String(Math.max(1, Math.ceil(waitMs / 1000))))
      const reply = errorReply(new RegistryError('TOOMANYREQUESTS', 'rate limit exceeded'))
      return c.json(reply.body, reply.status as 429)
    }
    const idleMs = limits.uploadIdleTimeoutMs
    if (!incoming || idleMs <= 0 || incoming.complete || !hasBody(c)) return next()
    const stop = watchProgress(incoming, idleMs, () =>
      logger.warn('request body stalled: connection closed', {
        method: c.req.method,
        route: c.get('route'),
        idleMs,
      }),
    )
    try {
      await next()
    } finally {
      stop()
    }
  }
}

/**
 * Cut the connection when the body delivers no bytes for `idleMs`. Bytes count as they arrive on
 * the socket; while the registry itself is not reading (backpressure from a slow disk), the
 * client is not idle and the clock does not run.
 */
function watchProgress(
  incoming: NonNullable<AppEnv['Bindings']['incoming']>,
  idleMs: number,
  stalled: () => void,
): () => void {
  const socket = incoming.socket
  let seen = socket.bytesRead
  let progressAt = performance.now()
  const timer = setInterval(
    () => {
      if (incoming.complete || socket.destroyed) return clearInterval(timer)
      const now = performance.now()
      const held = incoming.isPaused() || incoming.readableLength >= incoming.readableHighWaterMark
      if (socket.bytesRead !== seen || held) {
        seen = socket.bytesRead
        progressAt = now
      } else if (now - progressAt >= idleMs) {
        clearInterval(timer)
        stalled()
        socket.destroy()
      }
    },
    Math.max(50, Math.min(1000, idleMs / 4)),
  )
  timer.unref()
  return () => clearInterval(timer)
}
