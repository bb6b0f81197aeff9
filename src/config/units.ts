// Sizes as the configuration writes them: "512MB", "1GiB", "1048576", and shares: "5%".

/** "5%", "512MB", "1GiB", "1048576": a share of the filesystem or a byte count. */
export const SPACE = /^(\d+(?:\.\d+)?)\s*(%|B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$/

export type FreeSpace = { percent: number } | { bytes: number }

const UNIT: Record<string, number> = {
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
}

export function parseSpace(text: string): FreeSpace {
  const m = SPACE.exec(text)
  if (!m) throw new Error(`invalid space ${JSON.stringify(text)}`)
  if (m[2] === '%') return { percent: Number(m[1]) }
  return { bytes: Math.round(Number(m[1]) * UNIT[m[2] ?? 'B']) }
}

/** A plain byte count ("64MB"); a percentage is not a size and counts as 0. */
export function parseBytes(text: string): number {
  const space = parseSpace(text)
  return 'bytes' in space ? space.bytes : 0
}
