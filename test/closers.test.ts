// The stack of closers startServer unwinds (src/util/closers.ts): last opened first, each once,
// a group's members side by side at the group's place, and a failing close never keeps the
// others from running.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Closers } from '../src/util/closers.js'

describe('Closers', () => {
  it('closes last opened first, once however often close() is called', async () => {
    const closers = new Closers()
    const order: string[] = []
    for (const name of ['stores', 'cache', 'server']) closers.push(() => void order.push(name))
    await Promise.all([closers.close(), closers.close()])
    await closers.close()
    assert.deepEqual(order, ['server', 'cache', 'stores'])
  })

  it('runs a group at its place on the stack, its members side by side', async () => {
    const closers = new Closers()
    const order: string[] = []
    closers.push(() => void order.push('stores'))
    const group = closers.group()
    closers.push(() => void order.push('last'))
    // Each member waits for the other to have started: they can only finish side by side.
    let started = 0
    let resolve = () => {}
    const bothStarted = new Promise<void>((r) => (resolve = r))
    for (const name of ['gc', 'mirror'])
      group.push(async () => {
        if (++started === 2) resolve()
        await bothStarted
        order.push(name)
      })
    await closers.close()
    assert.deepEqual(order, ['last', 'gc', 'mirror', 'stores'])
  })

  it('runs every close when one fails, then throws its error', async () => {
    const closers = new Closers()
    const order: string[] = []
    closers.push(() => void order.push('stores'))
    closers.push(() => {
      throw new Error('cache would not close')
    })
    closers.group().push(async () => {
      order.push('gc')
    })
    await assert.rejects(closers.close(), /cache would not close/)
    assert.deepEqual(order, ['gc', 'stores'])
    // Unwound once: a second close reports the same outcome and runs nothing again.
    await assert.rejects(closers.close(), /cache would not close/)
    assert.deepEqual(order, ['gc', 'stores'])
  })

  it('reports several failures together', async () => {
    const closers = new Closers()
    const group = closers.group()
    group.push(() => Promise.reject(new Error('a')))
    group.push(() => Promise.reject(new Error('b')))
    closers.push(() => Promise.reject(new Error('c')))
    await assert.rejects(closers.close(), (err: unknown) => {
      assert.ok(err instanceof AggregateError)
      assert.equal(err.errors.length, 2) // c, then the group's own AggregateError of a and b
      return true
    })
  })

  it('refuses to take a close once unwound: it would never run', async () => {
    const closers = new Closers()
    const group = closers.group()
    await closers.close()
    assert.throws(() => closers.push(() => {}), /already unwound/)
    assert.throws(() => group.push(() => {}), /already unwound/)
  })
})
