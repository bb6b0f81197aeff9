// The files of an archive as one stream of entries, whatever holds them: a tar (plain or
// gzip-compressed, read with tar-stream as bytes arrive: nothing is extracted to disk) or an OCI
// layout directory. Every entry name is checked first: an absolute name or one that climbs out
// with ".." is refused, whatever the entry is, so no input reaches outside the archive.
import { createReadStream } from 'node:fs'
import { open, readdir, readFile, stat } from 'node:fs/promises'
import { join, posix } from 'node:path'
import { Transform, type Readable } from 'node:stream'
import { createGunzip } from 'node:zlib'
import tar from 'tar-stream'

export class ArchiveError extends Error {}

export interface ArchiveEntry {
  /** normalized relative name, e.g. "blobs/sha256/ab…" */
  name: string
  kind: 'file' | 'link' | 'other'
  size: number
  /** for links: the normalized name it points at */
  target?: string
  body: AsyncIterable<Buffer> | Buffer[]
}

export interface EntrySource {
  /** bytes to read in all (the file's size on disk), for progress */
  total: number
  /** a fresh pass over the entries; `onBytes` counts bytes read from disk */
  entries(onBytes: (n: number) => void): AsyncGenerator<ArchiveEntry>
}

/** A relative name inside the archive; throws on absolute names and on ".." escapes. */
export function entryName(raw: string): string {
  const name = raw.replace(/^\.\/+/, '')
  if (name.startsWith('/') || /^[a-zA-Z]:[\\/]/.test(name) || name.includes('\\')) {
    throw new ArchiveError(`archive entry ${JSON.stringify(raw)} has an absolute or foreign path`)
  }
  const normal = posix.normalize(name).replace(/\/+$/, '')
  if (normal === '..' || normal.startsWith('../') || name.split('/').includes('..')) {
    throw new ArchiveError(`archive entry ${JSON.stringify(raw)} points outside the archive`)
  }
  return normal === '.' ? '' : normal
}

/** Where a symbolic link inside the archive leads, as an archive name. */
function linkTarget(from: string, linkname: string, symbolic: boolean): string {
  if (linkname.startsWith('/')) {
    throw new ArchiveError(`archive link ${from} -> ${linkname} points outside the archive`)
  }
  // A hard link names its target from the archive's root; a symlink from its own directory.
  const joined = symbolic ? posix.join(posix.dirname(from), linkname) : linkname
  try {
    return entryName(posix.normalize(joined))
  } catch {
    throw new ArchiveError(`archive link ${from} -> ${linkname} points outside the archive`)
  }
}

async function isGzip(file: string): Promise<boolean> {
  const handle = await open(file, 'r')
  try {
    const head = Buffer.alloc(2)
    const { bytesRead } = await handle.read(head, 0, 2, 0)
    return bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b
  } finally {
    await handle.close()
  }
}

/** A tar file (gzip-compressed or not), read entry by entry. */
export async function tarSource(file: string): Promise<EntrySource> {
  const total = (await stat(file)).size
  const gzip = await isGzip(file)
  return {
    total,
    async *entries(onBytes) {
      const counter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          onBytes(chunk.length)
          done(null, chunk)
        },
      })
      const input = createReadStream(file)
      const extract = tar.extract()
      const streams: Readable[] = [input, counter, ...(gzip ? [createGunzip()] : [])]
      let tail: Readable = streams[0]
      for (const s of streams.slice(1)) tail = tail.pipe(s as Transform)
      for (const s of streams) s.on('error', (err) => extract.destroy(err))
      tail.pipe(extract)
      try {
        for await (const entry of extract) {
          const h = entry.header
          const name = entryName(h.name)
          const kind =
            h.type === 'file' || h.type === 'contiguous-file'
              ? 'file'
              : h.type === 'symlink' || h.type === 'link'
                ? 'link'
                : 'other'
          const target =
            kind === 'link' ? linkTarget(name, h.linkname ?? '', h.type === 'symlink') : undefined
          // An error (a truncated tar, bad gzip) surfaces where the reader waits: in the entry.
          const body = (async function* () {
            try {
              for await (const chunk of entry) yield chunk as Buffer
            } catch (err) {
              throw truncation(err, file)
            }
          })()
          yield { name, kind, size: h.size ?? 0, target, body }
          entry.resume() // whatever the consumer left unread
        }
      } catch (err) {
        throw truncation(err, file)
      } finally {
        input.destroy()
      }
    },
  }
}

function truncation(err: unknown, file: string): unknown {
  const message = (err as Error)?.message ?? ''
  if (/unexpected end|premature|end of file|unexpected eof/i.test(message)) {
    return new ArchiveError(`${file} is truncated or damaged: ${message}`)
  }
  if ((err as NodeJS.ErrnoException)?.code === 'Z_DATA_ERROR') {
    return new ArchiveError(`${file} is not valid gzip: ${message}`)
  }
  if (/invalid tar header|unknown format|invalid header/i.test(message)) {
    return new ArchiveError(`${file} is not a valid tar archive: ${message}`)
  }
  return err
}

/**
 * An OCI image layout directory: oci-layout and index.json first (so the names are known before
 * any blob), then every file under blobs/<algorithm>/. Links are not followed.
 */
export async function directorySource(dir: string): Promise<EntrySource> {
  const blobs: Array<{ name: string; size: number }> = []
  let total = 0
  for (const algorithm of await readdir(join(dir, 'blobs')).catch(() => [] as string[])) {
    const entries = await readdir(join(dir, 'blobs', algorithm), { withFileTypes: true })
    for (const e of entries) {
      if (!e.isFile()) continue
      const name = `blobs/${algorithm}/${e.name}`
      const size = (await stat(join(dir, name))).size
      blobs.push({ name, size })
      total += size
    }
  }
  return {
    total,
    async *entries(onBytes) {
      for (const name of ['oci-layout', 'index.json']) {
        const bytes = await readFile(join(dir, name)).catch(() => undefined)
        if (bytes) yield { name, kind: 'file', size: bytes.length, body: [bytes] }
      }
      for (const b of blobs) {
        const counted = async function* () {
          for await (const chunk of createReadStream(join(dir, b.name))) {
            onBytes(chunk.length)
            yield chunk as Buffer
          }
        }
        yield { name: b.name, kind: 'file', size: b.size, body: counted() }
      }
    },
  }
}
