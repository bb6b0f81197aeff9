// Where an export writes: a tar file (written with tar-stream under a temporary name beside the
// target, renamed into place only when complete) or a directory (an OCI image layout). Either
// way a failed export leaves nothing at the target.
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
}

async function writeAll(
  w: NodeJS.WritableStream & { write(c: Buffer): boolean },
  body: AsyncIterable<Buffer> | Buffer[],
) {
  for await (const chunk of body) if (!w.write(chunk)) await once(w, 'drain')
}

export async function tarSink(file: string): Promise<Sink> {
  if (await stat(file).catch(() => null)) throw new ArchiveError(`${file} already exists`)
  const temp = join(dirname(file), `.${randomUUID()}.partial`)
  const pack = tar.pack()
  const written = pipeline(pack, createWriteStream(temp, { flags: 'wx' }))
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
  }
}

export async function dirSink(dir: string): Promise<Sink> {
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
        await writeAll(out, body)
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
  }
}

/** Small JSON files (index.json, manifest.json). */
export async function writeJson(sink: Sink, name: string, value: unknown): Promise<void> {
  const bytes = Buffer.from(JSON.stringify(value))
  await sink.file(name, bytes.length, [bytes])
}
