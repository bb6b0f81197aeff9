// zot's extensions.sync.credentialsFile: {"host:port": {"username": ..., "password": ...}}, read
// once at start by the pull-through cache and the periodic mirror. It holds passwords, so a
// failure names the file and the problem's position, never its text.
import { readFile } from 'node:fs/promises'
import { jsonProblem } from '../config/jsonc.js'
import type { Credentials } from './upstream-client.js'

/** A credentials file that cannot be used: one line, never quoting it (it holds passwords). */
export class CredentialsFileError extends Error {
  override readonly name = 'CredentialsFileError'
}

export async function readCredentials(file: string): Promise<Record<string, Credentials>> {
  const what = `extensions.sync.credentialsFile ${file}`
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new CredentialsFileError(`${what} cannot be read: ${(err as Error).message}`)
  }
  try {
    return JSON.parse(text) as Record<string, Credentials>
  } catch (err) {
    throw new CredentialsFileError(`${what} is not valid JSON: ${jsonProblem(text, err as Error)}`)
  }
}
