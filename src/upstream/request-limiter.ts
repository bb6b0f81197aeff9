// zot's reqConcurrent and reqPerSec for one upstream: at most `concurrent` requests in flight (a
// request holds its slot until its response body closes, so a streaming blob counts for as long
// as it streams) and at most `perSecond` request starts per second, spaced evenly (no burst: a
// metered or rate-limited upstream sees a steady pace). Waiters are served in arrival order.
export interface RequestLimits {
  concurrent?: number
  perSecond?: number
}

export class RequestLimiter {
  private active = 0
  private nextStartAt = 0
  private readonly queue: Array<() => void> = []

  constructor(
    private readonly limits: RequestLimits,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Wait for a slot and a start time; call the returned function once the exchange is over. */
  async start(): Promise<() => void> {
    const { concurrent } = this.limits
    if (concurrent !== undefined && (this.active >= concurrent || this.queue.length > 0)) {
      await new Promise<void>((resolve) => this.queue.push(resolve))
    } else this.active++
    await this.paced()
    let released = false
    return () => {
      if (released) return
      released = true
      const next = this.queue.shift()
      if (next)
        next() // the slot passes straight to the next waiter
      else this.active--
    }
  }

  private async paced(): Promise<void> {
    const { perSecond } = this.limits
    if (perSecond === undefined) return
    const now = this.now()
    const at = Math.max(now, this.nextStartAt)
    this.nextStartAt = at + 1000 / perSecond
    if (at > now) await new Promise((resolve) => setTimeout(resolve, at - now))
  }
}
