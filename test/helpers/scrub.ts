// Helpers for the scrub tests: bit rot made by hand (one byte flipped in place, so every hard
// link to the file sees it, as with real rot), a scrubber over an owned storage, and views of a
// scrub report (which images it names, what quarantine holds).
import assert from 'node:assert/strict'
import { open, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { unlimitedBudget, type Budget } from '../../src/budget/index.js'
import type { OwnedStorage } from '../../src/server/storage-owner.js'
import type { ScrubItem } from '../../src/scrub/index.js'
import { Scrubber, type ScrubReport } from '../../src/scrub/index.js'
import { expectError } from './api.js'
import { pushImage, type TestImage } from './harness.js'

type Requester = (path: string, init?: RequestInit) => Promise<Response>

export type LogLine = { msg: string; fields?: Record<string, unknown> }

/** Flip the lowest bit of one byte of a file, in place: the inode (and its links) keep it. */
export async function flipByte(path: string, offset = 0): Promise<void> {
  const file = await open(path, 'r+')
  try {
    const byte = Buffer.alloc(1)
    const { bytesRead } = await file.read(byte, 0, 1, offset)
    if (bytesRead !== 1) throw new Error(`${path} has no byte at ${offset}`)
    byte[0] ^= 0x01
    await file.write(byte, 0, 1, offset)
  } finally {
    await file.close()
  }
}

/** A scrubber over `storage`, flat out unless a budget is given; its log lines land in `logs`. */
export function scrubberOn(
  storage: OwnedStorage,
  options: { budget?: Budget; logs?: LogLine[] } = {},
): Scrubber {
  return new Scrubber({
    registry: storage.registry,
    db: storage.db,
    budget: options.budget ?? unlimitedBudget(),
    log: (msg, fields) => options.logs?.push({ msg, fields }),
  })
}

/** "repo:tag" of every image a report names as affected, sorted and unique. */
export function affectedImages(report: ScrubReport): string[] {
  const names = report.affected
    .filter((a) => a.manifest !== undefined)
    .map((a) => `${a.repo}:${a.tag ?? a.manifest}`)
  return [...new Set(names)].sort()
}

/** Manifest digests of the images a report names as affected, sorted and unique. */
export function affectedManifests(report: ScrubReport): string[] {
  return [...new Set(report.affected.map((a) => a.manifest).filter((m) => m !== undefined))].sort()
}

/** Files kept as evidence in _outpost/quarantine/ (empty when there is none). */
export async function quarantineFiles(root: string): Promise<string[]> {
  const dir = join(root, '_outpost', 'quarantine')
  return (await readdir(dir).catch(() => [] as string[])).sort()
}

/** Push each [repo, image, tag]; fails the test unless every one is stored. */
export async function pushAll(
  request: Requester,
  pushes: Array<readonly [string, TestImage, string]>,
): Promise<void> {
  for (const [repo, image, tag] of pushes) {
    const res = await pushImage(request, repo, image, tag)
    assert.equal(res.status, 201, `${repo}:${tag}: ${await res.text()}`)
  }
}

/** The single item a report holds for `repo` (fails unless there is exactly one). */
export function itemOf(items: ScrubItem[], repo: string): ScrubItem {
  const found = items.filter((i) => i.repo === repo)
  assert.equal(found.length, 1, `one item for ${repo}: ${JSON.stringify(items)}`)
  return found[0]
}

/** GET and HEAD of a blob both answer 404 BLOB_UNKNOWN. */
export async function assertBlobUnknown(
  request: Requester,
  repo: string,
  digest: string,
): Promise<void> {
  await expectError(await request(`/v2/${repo}/blobs/${digest}`), 404, 'BLOB_UNKNOWN')
  const head = await request(`/v2/${repo}/blobs/${digest}`, { method: 'HEAD' })
  await expectError(head, 404, 'BLOB_UNKNOWN', 'HEAD')
}
