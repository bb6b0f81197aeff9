// Which repositories the storage holds: every directory, at any depth, whose layout has an
// index.json or oci-layout (image-spec image-layout.md), named by its path from the root.
import { BLOBS_DIR, ENGINE_DIR, layoutKeys, lexical } from '../layout/index.js'
import type { StorageDriver } from '../storage/index.js'
import { checkRepoName } from './names.js'

export async function isRepository(driver: StorageDriver, repo: string): Promise<boolean> {
  return (
    (await driver.stat(layoutKeys.index(repo))) !== null ||
    (await driver.stat(layoutKeys.ociLayout(repo))) !== null
  )
}

/**
 * Called between steps of a walk: background work's budget (a walk of 10,000 repositories is
 * tens of thousands of file system calls, which on a one-core board would take the core from
 * requests unpaced).
 */
export type Pace = () => Promise<void>

async function* walk(
  driver: StorageDriver,
  prefix: string,
  wanted: (repo: string) => Promise<boolean>,
  pace?: Pace,
): AsyncGenerator<string> {
  for await (const entry of driver.list(prefix)) {
    const { name } = entry
    if (!entry.isPrefix || name.startsWith('.') || name === BLOBS_DIR) continue
    if (prefix === '' && name === ENGINE_DIR) continue
    const repo = prefix === '' ? name : `${prefix}/${name}`
    if (!isValidName(repo)) continue
    if (await wanted(repo)) yield repo
    await pace?.()
    yield* walk(driver, repo, wanted, pace)
  }
}

function isValidName(repo: string): boolean {
  try {
    checkRepoName(repo)
    return true
  } catch {
    return false
  }
}

/** All repository names in lexical order (distribution-spec: catalog results are lexical). */
export async function listRepositories(driver: StorageDriver, pace?: Pace): Promise<string[]> {
  const names: string[] = []
  for await (const repo of walk(driver, '', (r) => isRepository(driver, r), pace)) names.push(repo)
  return names.sort(lexical)
}

/** Every name with an upload staging area, repository or not (a first push may not have landed). */
export async function listUploadHolders(driver: StorageDriver): Promise<string[]> {
  const names: string[] = []
  const hasUploads = async (r: string) => (await driver.stat(layoutKeys.uploadsDir(r))) !== null
  for await (const repo of walk(driver, '', hasUploads)) names.push(repo)
  return names
}
