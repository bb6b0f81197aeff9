// Which storage backend a test process runs its registries on. The runner (test/run-passes.ts)
// chooses it for each pass and hands it to the child process in one environment variable; this
// module is the only reader of that variable, and it refuses a name it does not know rather
// than quietly testing the filesystem instead.
export const BACKENDS = ['fs', 's3', 'subpaths', 'memory'] as const
export type BackendName = (typeof BACKENDS)[number]

/** The variable that carries the backend from the runner to a test process. */
export const BACKEND_ENV = 'OUTPOST_TEST_BACKEND'

/** The environment that selects `backend` in a test process. */
export function backendEnv(backend: BackendName): Record<string, string> {
  return { [BACKEND_ENV]: backend }
}

/** The backend `env` selects: the filesystem when it names none. */
export function backendFrom(env: NodeJS.ProcessEnv): BackendName {
  const named = env[BACKEND_ENV]
  if (named === undefined || named === '') return 'fs'
  const known = BACKENDS.find((b) => b === named)
  if (known === undefined) {
    throw new Error(
      `${BACKEND_ENV}=${named} names no test backend (one of: ${BACKENDS.join(', ')})`,
    )
  }
  return known
}
