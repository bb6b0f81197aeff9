// Help texts for the outpost command. Kept beside the commands so they stay true.
export const MAIN_HELP = `outpost - an OCI registry for edge and IoT hardware

Usage:
  outpost serve [config.json]     serve the registry (no config: 127.0.0.1:5000, storing under ./data)
  outpost verify <config.json>    check a configuration file without serving
  outpost gc <config.json> [--dry-run]
                                  one garbage-collection pass while no server runs
  outpost scrub <config.json> [--json]
                                  verify every blob's hash now; exit 1 when anything is damaged
  outpost version                 print the version (also: outpost --version)
  outpost <command> --help        help for one command

Examples:
  outpost serve
  outpost serve /etc/outpost/config.json
  outpost verify ./config.json && systemctl restart outpost
`

export const SERVE_HELP = `outpost serve [config.json]

Serves the OCI Distribution API. Without a config file it listens on 127.0.0.1:5000 and stores
under ./data (created if missing). A configured storage.rootDirectory must already exist, and so
must each storage.subPaths root: a repository whose first path segment is a subpath's route
(e.g. "a/app" for "/a") is stored there, every other one under storage.rootDirectory.
Stops cleanly on SIGTERM or SIGINT: in-flight requests finish (up to http.shutdownTimeout).

Examples:
  outpost serve
  outpost serve config.json
  skopeo copy --dest-tls-verify=false oci:./image:latest docker://127.0.0.1:5000/demo:latest
`

export const VERIFY_HELP = `outpost verify <config.json>

Validates a configuration file (zot-compatible JSON; comments and trailing commas allowed) and
prints what it resolves to. Exits 0 when valid, 2 when not, naming each problem by its JSON path.

Example:
  outpost verify /etc/outpost/config.json
`

export const GC_HELP = `outpost gc <config.json> [--dry-run]

Runs one garbage-collection pass over the storage of the given configuration (every store: the
default one and each of storage.subPaths) and prints what was removed (or, with --dry-run, what
would be) and the bytes freed. Each store uses its own gcDelay and retention policies.
It refuses to run while a server holds the storage: the server collects garbage online on its
own schedule (storage.gc, gcDelay, gcInterval).

Examples:
  outpost gc /etc/outpost/config.json --dry-run
  systemctl stop outpost && outpost gc /etc/outpost/config.json && systemctl start outpost
`

export const SCRUB_HELP = `outpost scrub <config.json> [--json]

Runs one scrub pass over the storage of the given configuration (every store: the default one
and each of storage.subPaths): the layout files must parse, and every manifest, config and layer
reachable from each repository's index.json must exist, have its descriptor's size and hash to
its digest. Bytes shared by hard links are hashed once.
A corrupt blob is moved to _outpost/quarantine/ (out of every repository linking it); the next
push of that content restores it. Prints a REPOSITORY TAG STATUS AFFECTED-BLOB ERROR table, or
JSON with --json. Exits 0 when everything is intact, 1 when anything is affected. Refuses while a
server holds the storage: the server scrubs on its own schedule (extensions.scrub).

Examples:
  outpost scrub /etc/outpost/config.json
  outpost scrub /etc/outpost/config.json --json | jq '.affected'
`
