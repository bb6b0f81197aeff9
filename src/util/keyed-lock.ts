// A lock per key (docs/architecture.md §5.5): index.json read-modify-write is serialized per
// repository, and no lock spans repositories. A key's holders are either one exclusive task or
// any number of shared ones (blob publishes, which only add files and must only exclude GC and
// index.json writers). Waiters are served in arrival order, so a stream of shared tasks never
// starves an exclusive one. Entries vanish when no one holds or waits.
interface Waiter {
  shared: boolean
  start: () => void
}

interface KeyState {
  /** running shared tasks, or -1 while an exclusive task runs */
  holders: number
  queue: Waiter[]
}

export class KeyedLock {
  private readonly keys = new Map<string, KeyState>()

  /** Run `task` alone: no other task holds `key` meanwhile. */
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    return this.enter(key, false, task)
  }

  /** Run `task` beside other shared tasks of `key`, but never beside an exclusive one. */
  runShared<T>(key: string, task: () => Promise<T>): Promise<T> {
    return this.enter(key, true, task)
  }

  private async enter<T>(key: string, shared: boolean, task: () => Promise<T>): Promise<T> {
    let state = this.keys.get(key)
    if (!state) {
      state = { holders: 0, queue: [] }
      this.keys.set(key, state)
    }
    const s = state
    if (s.queue.length > 0 || !this.admits(s, shared)) {
      await new Promise<void>((start) => s.queue.push({ shared, start }))
    } else {
      s.holders = shared ? s.holders + 1 : -1
    }
    try {
      return await task()
    } finally {
      s.holders = shared ? s.holders - 1 : 0
      this.wake(key, s)
    }
  }

  private admits(state: KeyState, shared: boolean): boolean {
    return shared ? state.holders >= 0 : state.holders === 0
  }

  /** Start the waiters at the head of the queue that can run now, in order. */
  private wake(key: string, state: KeyState): void {
    while (state.queue.length > 0 && this.admits(state, state.queue[0].shared)) {
      const next = state.queue.shift()!
      state.holders = next.shared ? state.holders + 1 : -1
      next.start()
    }
    if (state.holders === 0 && state.queue.length === 0) this.keys.delete(key)
  }
}
