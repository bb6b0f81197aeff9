// RepoIndexes remembers which repositories have their layout files (issue 17: every blob publish
// stat'ed index.json). The memory must not outlive a removal it can know of (GC's `removed`, a
// read that finds index.json gone), and must not be used where another instance may remove a
// repository unseen (locks outside this process).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { layoutKeys } from '../src/layout/index.js'
import { RepoIndexes } from '../src/registry/repo-index.js'
import type { StorageDriver } from '../src/storage/index.js'
import { MemoryDriver } from '../src/storage/memory/index.js'
import { LocalLocks, type Locks } from '../src/util/locks.js'

/** A memory driver that counts stats of `repo`'s index.json. */
function counting(repo: string): { driver: StorageDriver; stats: () => number } {
  const inner = new MemoryDriver()
  let stats = 0
  const driver = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown
      if (prop === 'stat') {
        return (key: string) => {
          if (key === layoutKeys.index(repo)) stats++
          return inner.stat(key)
        }
      }
      return typeof value === 'function' ? value.bind(target) : value
    },
  }) as unknown as StorageDriver
  return { driver, stats: () => stats }
}

/** Locks that are not LocalLocks: stand-in for locks shared with other instances. */
class SharedLocks implements Locks {
  private readonly inner = new LocalLocks()
  run<T>(name: string, task: () => Promise<T>): Promise<T> {
    return this.inner.run(name, task)
  }
}

describe('RepoIndexes layout-present memory', () => {
  it('stats index.json once, not on every blob publish', async () => {
    const { driver, stats } = counting('r')
    const indexes = new RepoIndexes(driver, new LocalLocks())
    await indexes.ensure('r')
    const after = stats()
    for (let n = 0; n < 5; n++) await indexes.ensure('r')
    assert.equal(stats(), after)
    assert.ok(await driver.stat(layoutKeys.ociLayout('r')))
  })

  it('forgets a repository GC removed: the next publish lays it out again', async () => {
    const { driver } = counting('r')
    const indexes = new RepoIndexes(driver, new LocalLocks())
    await indexes.ensure('r')
    await driver.delete(layoutKeys.index('r'))
    await driver.delete(layoutKeys.ociLayout('r'))
    indexes.removed('r')
    await indexes.ensure('r')
    assert.ok(await driver.stat(layoutKeys.index('r')))
    assert.ok(await driver.stat(layoutKeys.ociLayout('r')))
  })

  it('puts oci-layout back when a foreign tool removed the layout behind it', async () => {
    const { driver } = counting('r')
    const indexes = new RepoIndexes(driver, new LocalLocks())
    await indexes.ensure('r')
    await driver.delete(layoutKeys.index('r'))
    await driver.delete(layoutKeys.ociLayout('r'))
    // A manifest push: ensure (remembered, no stat), then the index update, which reads.
    await indexes.ensure('r')
    await indexes.update('r', () => ({ changed: false, result: undefined }))
    assert.ok(await driver.stat(layoutKeys.index('r')))
    assert.ok(await driver.stat(layoutKeys.ociLayout('r')))
    // ...and the read that saw it gone made the next publish check again.
    await driver.delete(layoutKeys.index('r'))
    await driver.delete(layoutKeys.ociLayout('r'))
    assert.equal(await indexes.read('r'), null)
    await indexes.ensure('r')
    assert.ok(await driver.stat(layoutKeys.ociLayout('r')))
  })

  it('always stats with locks another instance shares', async () => {
    const { driver, stats } = counting('r')
    const indexes = new RepoIndexes(driver, new SharedLocks())
    await indexes.ensure('r')
    const after = stats()
    for (let n = 0; n < 3; n++) await indexes.ensure('r')
    assert.equal(stats(), after + 3)
  })
})
