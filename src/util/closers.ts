// A stack of closers: each resource, as it is opened, pushes the function that closes it; a
// failed start and the normal stop both unwind the same stack, last opened first, once (Go's
// `defer`, Python's ExitStack). Resources that stop together (background work) share one group,
// a single place on the stack whose members close side by side.

export type Close = () => Promise<unknown> | void

export interface CloseGroup {
  /** Add a close that runs beside the group's others when the group's turn comes. */
  push(close: Close): void
}

export class Closers {
  private readonly stack: Close[] = []
  private closing?: Promise<void>

  /** The close of a resource just opened: it runs before every close pushed earlier. */
  push(close: Close): void {
    if (this.closing) throw new Error('closers already unwound: nothing may be opened now')
    this.stack.push(close)
  }

  /** A place on the stack, taken now, for closes that run together (in parallel). */
  group(): CloseGroup {
    const members: Close[] = []
    this.push(() => settleAll(members))
    return {
      push: (close) => {
        if (this.closing) throw new Error('closers already unwound: nothing may be opened now')
        members.push(close)
      },
    }
  }

  /**
   * Run every close, last pushed first, each once; later calls wait for the same unwinding. A
   * close that throws does not keep the others from running: its error is rethrown once all
   * have run (an AggregateError when several failed).
   */
  close(): Promise<void> {
    this.closing ??= this.unwind()
    return this.closing
  }

  private async unwind(): Promise<void> {
    const failures: unknown[] = []
    for (const close of this.stack.reverse()) {
      try {
        await close()
      } catch (err) {
        failures.push(err)
      }
    }
    throwFailures(failures)
  }
}

/** Run every close at once; failures are rethrown after all have settled. */
async function settleAll(closes: readonly Close[]): Promise<void> {
  const results = await Promise.allSettled(closes.map(async (close) => close()))
  throwFailures(results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : [])))
}

function throwFailures(failures: unknown[]): void {
  if (failures.length === 1) throw failures[0]
  if (failures.length > 1) throw new AggregateError(failures, `${failures.length} closes failed`)
}
