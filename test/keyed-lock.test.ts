// The per-repository lock (docs/architecture.md §5.5): exclusive tasks run alone, shared tasks (blob
// publishes) run beside each other but never beside an exclusive one, waiters are served in
// arrival order (a stream of shared tasks cannot starve an exclusive one), and keys are apart.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { KeyedLock } from '../src/util/keyed-lock.js'

const tick = () => new Promise((r) => setTimeout(r, 5))

/** A task that records when it ran and how many others were inside with it. */
function tracker() {
  let inside = 0
  let exclusiveInside = 0
  const log: string[] = []
  const task = (name: string, exclusive: boolean) => async () => {
    inside++
    if (exclusive) exclusiveInside++
    log.push(`+${name}`)
    if (exclusive) assert.equal(inside, 1, `${name} ran beside ${inside - 1} other task(s)`)
    else assert.equal(exclusiveInside, 0, `${name} ran beside an exclusive task`)
    const peak = inside
    await tick()
    await tick()
    log.push(`-${name}`)
    inside--
    if (exclusive) exclusiveInside--
    return peak
  }
  return { task, log }
}

describe('keyed lock', () => {
  it('runs shared tasks together and exclusive ones alone', async () => {
    const lock = new KeyedLock()
    const { task } = tracker()
    const peaks = await Promise.all([
      lock.runShared('r', task('s1', false)),
      lock.runShared('r', task('s2', false)),
      lock.runShared('r', task('s3', false)),
    ])
    assert.equal(Math.max(...peaks), 3, 'the shared tasks overlapped')
    const exclusive = await Promise.all([
      lock.run('r', task('x1', true)),
      lock.run('r', task('x2', true)),
    ])
    assert.deepEqual(exclusive, [1, 1])
  })

  it('serves waiters in order: an exclusive task is not starved by later shared ones', async () => {
    const lock = new KeyedLock()
    const { task, log } = tracker()
    const all = [
      lock.runShared('r', task('s1', false)),
      lock.run('r', task('x', true)),
      lock.runShared('r', task('s2', false)),
      lock.runShared('r', task('s3', false)),
    ]
    await Promise.all(all)
    // x waits for s1; s2 and s3, which came after x, wait for x, then run together.
    assert.deepEqual(log.slice(0, 4), ['+s1', '-s1', '+x', '-x'])
    assert.deepEqual(log.slice(4, 6).sort(), ['+s2', '+s3'])
  })

  it('keeps keys apart, releases on failure, and forgets idle keys', async () => {
    const lock = new KeyedLock()
    const a = tracker()
    const b = tracker()
    await assert.rejects(
      lock.run('a', async () => {
        throw new Error('boom')
      }),
      /boom/,
    )
    // 'a' is free again after the failure; 'b' never waited for it.
    let bStarted = false
    await Promise.all([
      lock.run('a', async () => {
        await a.task('a1', true)()
        assert.ok(bStarted, "b's task ran while a's was held")
      }),
      lock.run('b', async () => {
        bStarted = true
        await b.task('b1', true)()
      }),
    ])
    assert.equal((lock as unknown as { keys: Map<string, unknown> }).keys.size, 0)
  })
})
