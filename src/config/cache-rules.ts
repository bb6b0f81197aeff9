// zot's rules for where a store keeps its dedupe index (zot storage guide, "Cache drivers"):
// - remoteCache defaults to true when dedupe is on and the store is remote (storageDriver);
// - with remoteCache, a cacheDriver (DynamoDB) is needed: dedupe on S3 with remoteCache and no
//   cacheDriver fails here, saying how to fix it;
// - a cacheDriver with remoteCache false is ignored (a startup warning says so) and the local
//   LMDB index is used.
// Outpost also keeps its locks in the cacheDriver's table, so a remote cache serves several
// instances on one bucket even with dedupe off (see docs/s3-and-subpaths.md, "Several instances").
import type { z } from 'zod'

interface CacheFields {
  dedupe?: boolean
  storageDriver?: unknown
  cacheDriver?: unknown
  remoteCache?: boolean
}

/** Whether a store's engine state lives in the cacheDriver (DynamoDB) rather than LMDB. */
export function usesRemoteCache(store: CacheFields): boolean {
  const dedupe = store.dedupe ?? true
  return store.remoteCache ?? (dedupe && store.storageDriver !== undefined)
}

export function cacheRules(store: CacheFields, ctx: z.core.$RefinementCtx): void {
  if (!usesRemoteCache(store) || store.cacheDriver !== undefined) return
  const defaulted = store.remoteCache === undefined
  ctx.addIssue({
    code: 'custom',
    path: ['cacheDriver'],
    message: defaulted
      ? "dedupe on remote storage (storageDriver) uses a remote cache by default (zot's " +
        'remoteCache), which needs a cacheDriver: add "cacheDriver": {"name": "dynamodb", ' +
        '"region": ..., "cacheTablename": ...}, or set "remoteCache": false to keep the dedupe ' +
        'index in the local LMDB (one instance only), or set "dedupe": false'
      : '"remoteCache": true needs a cacheDriver: add "cacheDriver": {"name": "dynamodb", ' +
        '"region": ..., "cacheTablename": ...}, or set "remoteCache": false',
  })
}
