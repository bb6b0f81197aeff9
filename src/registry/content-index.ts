// The content index's contract lives with the engine index (src/engine-db/content-index.ts);
// re-exported for the registry's users, e.g. the DynamoDB cache driver.
export type { ContentIndex, ContentRecord } from '../engine-db/content-index.js'
