// Helpers for the dedupe, startup-dedupe and free-space tests: images with layers big enough for
// `du` to tell one copy from five, inode checks on blob files, full pulls compared byte for byte,
// and small filesystems (tmpfs, exFAT through FUSE) mounted for one test and always unmounted.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, stat, statfs, truncate } from 'node:fs/promises'
import { join } from 'node:path'
import type { GcPolicy } from '../../src/gc/index.js'
import { haveCommand, imageOf, sha256, type TestImage } from './harness.js'

type Requester = (path: string, init?: RequestInit) => Promise<Response>

/** Collect right away: no delay, untagged manifests and orphaned referrers go. */
export const GC_NOW: GcPolicy = {
  delayMs: 0,
  manifestDelayMs: 0,
  deleteUntagged: true,
  deleteReferrers: true,
  dryRun: false,
  retentionDryRun: false,
}

/** An OCI image whose layers have the given sizes, filled with random (incompressible) bytes. */
export function sizedImage(seed: string, layerSizes: number[]): TestImage {
  const config = Buffer.from(JSON.stringify({ architecture: 'arm64', os: 'linux', seed }))
  return imageOf(
    config,
    layerSizes.map((size) => randomBytes(size)),
  )
}

/** Every blob of an image: config, layers and the manifest itself. */
export function imageBlobs(image: TestImage): string[] {
  return [sha256(image.config), ...image.layers.map((l) => sha256(l)), image.digest]
}

export function imageBytes(image: TestImage): number {
  return (
    image.config.length + image.layers.reduce((n, l) => n + l.length, 0) + image.manifest.length
  )
}

export function blobPath(root: string, repo: string, digest: string): string {
  const [algorithm, hex] = digest.split(':')
  return join(root, repo, 'blobs', algorithm, hex)
}

/** Inode number and link count of a repository's blob file. */
export async function blobInode(
  root: string,
  repo: string,
  digest: string,
): Promise<{ ino: number; nlink: number }> {
  const info = await stat(blobPath(root, repo, digest))
  return { ino: info.ino, nlink: info.nlink }
}

/** Pull an image by `ref` and check manifest, config and every layer byte for byte. */
export async function assertPulls(
  request: Requester,
  repo: string,
  ref: string,
  image: TestImage,
): Promise<void> {
  const manifest = await request(`/v2/${repo}/manifests/${ref}`)
  assert.equal(manifest.status, 200, `${repo}:${ref} manifest`)
  assert.ok(Buffer.from(await manifest.arrayBuffer()).equals(image.manifest), `${repo} manifest`)
  for (const blob of [image.config, ...image.layers]) {
    const res = await request(`/v2/${repo}/blobs/${sha256(blob)}`)
    assert.equal(res.status, 200, `${repo} blob ${sha256(blob)}`)
    const got = Buffer.from(await res.arrayBuffer())
    assert.equal(sha256(got), sha256(blob), `${repo} blob bytes`)
  }
}

/** `du -sb` over the given paths: GNU du counts a hard-linked file once. */
export function diskUsage(...paths: string[]): number {
  const out = execFileSync('du', ['-sbc', ...paths], { encoding: 'utf8' })
  const total = out.trim().split('\n').at(-1)!
  return Number(total.split('\t')[0])
}

export async function freeBytes(dir: string): Promise<{ free: number; total: number }> {
  const fs = await statfs(dir)
  return { free: fs.bavail * fs.bsize, total: fs.blocks * fs.bsize }
}

/** A fetch-style requester against a server URL. */
export function overHttp(url: string): Requester {
  return (path, init) => fetch(url + path, init)
}

// --- small filesystems -----------------------------------------------------------------------

export const notRoot = process.getuid?.() === 0 ? false : 'needs root to mount a small filesystem'

/** Mount a tmpfs of `size` (e.g. "8m") on a new directory under `base`; null when not permitted. */
export function mountTmpfs(base: string, name: string, size: string): string | null {
  const dir = join(base, name)
  execFileSync('mkdir', ['-p', dir])
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' })
    return dir
  } catch {
    return null
  }
}

export function unmount(dir: string): void {
  try {
    execFileSync('umount', ['-l', dir], { stdio: 'pipe' })
  } catch {
    // not mounted (the mount itself failed): nothing to undo
  }
}

/**
 * Why an exFAT filesystem (no hard links) cannot be mounted here, or false when it can. This
 * kernel has no vfat or exfat driver, so exFAT runs through FUSE (Debian: exfatprogs for
 * mkfs.exfat, exfat-fuse for mount.exfat-fuse) on a loop device.
 */
export async function exfatUnavailable(): Promise<string | false> {
  if (notRoot) return notRoot
  if (!(await haveCommand('mkfs.exfat'))) return 'needs mkfs.exfat (Debian package exfatprogs)'
  if (!(await haveCommand('mount.exfat-fuse')))
    return 'needs mount.exfat-fuse (Debian package exfat-fuse)'
  if (!(await haveCommand('losetup'))) return 'needs losetup (Debian package util-linux)'
  return false
}

export interface LoopMount {
  dir: string
  /** unmount and detach the loop device; safe to call twice */
  release(): void
}

/** An exFAT image of `bytes` under `base`, mounted through FUSE on a loop device. */
export async function mountExfat(base: string, bytes: number): Promise<LoopMount> {
  const image = join(base, 'exfat.img')
  const dir = join(base, 'exfat')
  await mkdir(dir, { recursive: true })
  execFileSync('touch', [image])
  await truncate(image, bytes)
  execFileSync('mkfs.exfat', [image], { stdio: 'pipe' })
  const device = execFileSync('losetup', ['-f', '--show', image], { encoding: 'utf8' }).trim()
  let released = false
  const release = () => {
    if (released) return
    released = true
    unmount(dir)
    try {
      execFileSync('losetup', ['-d', device], { stdio: 'pipe' })
    } catch {
      // already detached
    }
  }
  try {
    execFileSync('mount.exfat-fuse', [device, dir], { stdio: 'pipe' })
  } catch (err) {
    release()
    throw err
  }
  return { dir, release }
}
