// Where an export writes: a tar file (written with tar-stream under a temporary name beside the
// target, renamed into place only when complete) or a directory (an OCI image layout). Either
// way a failed export leaves nothing at the target. Each sink reports the bytes it writes, and
// says beforehand how many it will write for a set of entries: the progress of an export is in
// the bytes of what it makes, so its total is the archive's size.
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createWriteStream } from 'node:fs'
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import tar from 'tar-stream'
import { ArchiveError } from './entries.js'

export interface Sink {
  /** a directory entry (tar only; a directory sink makes directories as needed) */
  directory(name: string): Promise<void>
  /** a file of exactly `size` bytes */
  file(name: string, size: number, body: AsyncIterable<Buffer> | Buffer[]): Promise<void>
  finish(): Promise<void>
  abort(): Promise<void>
  /** the bytes this sink writes for `directories` directory entries and files of `files` sizes */
  footprint(files: number[], directories: number): number
}

/** Told the bytes a sink has written, as they go out. */
export type OnWritten = (bytes: number) => void

// POSIX ustar (pax(1) "ustar Interchange Format"): each entry is a 512-byte header and its data
// padded to a 512-byte block; two zero blocks end the archive (tar-stream adds no record
// padding). Every name an export writes (blobs/sha256/<hex>, <hex>.tar, <hex>.json,
// index.json, manifest.json, oci-layout) fits the header's 100-byte name field, so no pax
// extended header is needed.
const BLOCK = 512
const blocks = (n: number) => Math.ceil(n / BLOCK) * BLOCK

async function writeAll(
  w: NodeJS.WritableStream & { write(c: Buffer): boolean },
  body: AsyncIterable<Buffer> | Buffer[],
  onWritten: OnWritten = () => {},
) {
  for await (const chunk of body) {
    onWritten(chunk.length)
    if (!w.write(chunk)) await once(w, 'drain')
  }
}

export async function tarSink(file: string, onWritten: OnWritten = () => {}): Promise<Sink> {
  if (await stat(file).catch(() => null)) throw new ArchiveError(`${file} already exists`)
  const temp = join(dirname(file), `.${randomUUID()}.partial`)
  const pack = tar.pack()
  // Counted as they leave for the file: headers, padding and the end blocks included.
  const counted = async function* (source: AsyncIterable<unknown>) {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      onWritten(chunk.length)
      yield chunk
    }
  }
  const written = pipeline(pack, counted, createWriteStream(temp, { flags: 'wx' }))
  written.catch(() => {}) // observed by finish/abort
  const mtime = new Date(0)
  const directory = (name: string) =>
    new Promise<void>((resolve, reject) => {
      pack.entry({ name, type: 'directory', mode: 0o755, mtime }, (err) =>
        err ? reject(err) : resolve(),
      )
    })
  return {
    directory,
    async file(name, size, body) {
      let settle: (err?: Error | null) => void = () => {}
      const done = new Promise<void>((resolve, reject) => {
        settle = (err) => (err ? reject(err) : resolve())
      })
      const stream = pack.entry({ name, size, type: 'file', mode: 0o644, mtime }, (err) =>
        settle(err),
      )
      await writeAll(stream, body)
      stream.end(undefined)
      await done
    },
    async finish() {
      pack.finalize()
      await written
      await rename(temp, file)
    },
    async abort() {
      pack.destroy()
      await written.catch(() => {})
      await rm(temp, { force: true })
    },
    footprint(files, directories) {
      const entries = files.reduce((n, size) => n + BLOCK + blocks(size), 0)
      return entries + directories * BLOCK + 2 * BLOCK
    },
  }
}

export async function dirSink(dir: string, onWritten: OnWritten = () => {}): Promise<Sink> {
  const existing = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined
    throw err
  })
  if (existing && existing.length > 0) throw new ArchiveError(`${dir} exists and is not empty`)
  await mkdir(dir, { recursive: true })
  return {
    async directory(name) {
      await mkdir(join(dir, name), { recursive: true })
    },
    async file(name, _size, body) {
      const target = join(dir, name)
      await mkdir(dirname(target), { recursive: true })
      const temp = join(dirname(target), `.${randomUUID()}.partial`)
      try {
        const out = createWriteStream(temp, { flags: 'wx' })
        await writeAll(out, body, onWritten)
        out.end()
        await once(out, 'close')
        await rename(temp, target)
      } catch (err) {
        await rm(temp, { force: true })
        throw err
      }
    },
    async finish() {},
    async abort() {
      // Only what this export made: the directory was empty or absent.
      await rm(dir, { recursive: true, force: true })
    },
    footprint: (files) => files.reduce((n, size) => n + size, 0),
  }
}

/** Small JSON files (index.json, manifest.json), as written. */
export function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value))
}

export async function writeBytes(sink: Sink, name: string, bytes: Buffer): Promise<void> {
  await sink.file(name, bytes.length, [bytes])
}
