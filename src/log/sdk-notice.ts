// The AWS SDK for JavaScript v3 prints a nine-line notice through process.emitWarning when it
// runs on a Node release it will stop supporting (since @aws-sdk/core 3.974.8: "versions
// published after the first week of January 2027 will require node >=22"). Outpost's floor is
// Node 20 (Debian 13 ships it), and the notice is addressed to the developer who picks the SDK,
// not to the operator reading the registry's log. package.json pins the SDK to releases that
// support Node 20 without it; this keeps a later SDK's notice out of the log too.
//
// First the SDK's documented switch (aws/aws-sdk-js-v3#7983), unless the operator set it;
// then, for SDK releases that predate it, a filter on process.emitWarning that drops this one
// notice (matched by its text) and passes every other warning on unchanged.

const SWITCH = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'
const NOTICE = /^(?:NodeVersionSupportWarning|NodeDeprecationWarning): The AWS SDK for JavaScript/

let installed = false

/** Whether `warning` (what process.emitWarning was given) is the SDK's Node version notice. */
export function isSdkNodeNotice(warning: unknown): boolean {
  const text = warning instanceof Error ? warning.message : warning
  return typeof text === 'string' && NOTICE.test(text)
}

/** Keep the SDK's Node version notice out of the output; idempotent. */
export function quietSdkNodeNotice(): void {
  if (installed) return
  installed = true
  process.env[SWITCH] ??= 'true'
  const emit = process.emitWarning
  process.emitWarning = function (this: NodeJS.Process, warning: string | Error, ...rest: never[]) {
    if (isSdkNodeNotice(warning)) return
    return (emit as (w: string | Error, ...r: never[]) => void).call(process, warning, ...rest)
  } as typeof process.emitWarning
}
