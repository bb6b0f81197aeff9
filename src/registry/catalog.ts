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

async function* walk(
  driver: StorageDriver,
  prefix: string,
  wanted: (repo: string) => Promise<boolean>,
): AsyncGenerator<string> {
  for await (const entry of driver.list(prefix)) {
    const { name } = entry
    if (!entry.isPrefix || name.startsWith('.') || name === BLOBS_DIR) continue
    if (prefix === '' && name === ENGINE_DIR) continue
    const repo = prefix === '' ? name : `${prefix}/${name}`
    if (!isValidName(repo)) continue
    if (await wanted(repo)) yield repo
    yield* walk(driver, repo, wanted)
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
export async function listRepositories(driver: StorageDriver): Promise<string[]> {
  const names: string[] = []
  for await (const repo of walk(driver, '', (r) => isRepository(driver, r))) names.push(repo)
  return names.sort(lexical)
}

/** Every name with an upload staging area, repository or not (a first push may not have landed). */
export async function listUploadHolders(driver: StorageDriver): Promise<string[]> {
  const names: string[] = []
  const hasUploads = async (r: string) => (await driver.stat(layoutKeys.uploadsDir(r))) !== null
  for await (const repo of walk(driver, '', hasUploads)) names.push(repo)
  return names
}
