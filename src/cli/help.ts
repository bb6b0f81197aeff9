// Help texts for the outpost command. Kept beside the commands so they stay true.
export const MAIN_HELP = `outpost - an OCI registry for edge and IoT hardware

Usage:
  outpost serve [config.json]     serve the registry (no config: 127.0.0.1:5000, storing under ./data)
  outpost serve [--address A] [--port P] [--root DIR]
                                  serve without a config file elsewhere
  outpost verify <config.json> [--online] [--print]
                                  check that serve would start with a configuration
  outpost gc [config.json] [--dry-run]
                                  one garbage-collection pass while no server runs
                                  (--dry-run lists what it would remove, also beside a server)
  outpost scrub [config.json] [--json]
                                  verify every blob's hash now; exit 1 when anything is damaged
  outpost sync --to|--from <target> [--repos GLOB] [--config FILE]
                                  copy repositories to or from an S3 bucket (uplink.targets)
  outpost mirror <config.json> [--once] [--dry-run]
                                  one pass of the periodic mirror now, while no server runs
                                  (--dry-run lists what it would fetch, also beside a server)
  outpost import <file|dir> [--repo NAME[:TAG]] [--config FILE]
                                  load an oci-archive, docker-archive or OCI layout directory
  outpost export REF... -o FILE|DIR [--format oci-archive|docker-archive|oci-dir]
                                  write images out for an air-gapped site
  outpost version                 print the version (also: outpost --version)
  outpost <command> --help        help for one command

Examples:
  outpost serve
  outpost serve /etc/outpost/config.json
  outpost verify ./config.json && systemctl restart outpost
`

export const SERVE_HELP = `outpost serve [config.json]
outpost serve [--address A] [--port P] [--root DIR]

Serves the OCI Distribution API. Without a config file it listens on 127.0.0.1:5000 and stores
under ./data (created if missing); --address, --port and --root change those three (the root is
created if missing too), and only without a config file: with one, set them in it. A configured storage.rootDirectory must already exist, and so
must each storage.subPaths root: a repository whose first path segment is a subpath's route
(e.g. "a/app" for "/a") is stored there, every other one under storage.rootDirectory.
Stops cleanly on SIGTERM or SIGINT: in-flight requests finish (up to http.shutdownTimeout).

Examples:
  outpost serve
  outpost serve config.json
  outpost serve --port 5055 --root /srv/outpost
  skopeo copy --dest-tls-verify=false oci:./image:latest docker://127.0.0.1:5000/demo:latest
`

export const VERIFY_HELP = `outpost verify <config.json> [--online] [--print]

Checks that "outpost serve" would start with this file on this machine, as the user it runs as:
the file (zot-compatible JSON; comments and trailing commas allowed), every store's root (it
must exist and be writable: serve never creates a configured root), the TLS, htpasswd and
pull-through credentials files (readable), and that no two stores share a root. It takes no lock
and opens no storage, so it is safe while the server runs (the unit's ExecReload runs it).
  --online   also check the network: each S3 bucket (HeadBucket with the configured keys), each
             DynamoDB cache table, and each pull-through upstream (GET /v2/)
  --print    also print the resolved configuration as JSON, every secret masked
Prints warnings first (stderr), then a short summary. Exits 0 when serve would start, 1 when
the file is valid but something it names is missing or unusable here, 2 when the file is
invalid; each problem on one line, named by its JSON path.

Examples:
  outpost verify /etc/outpost/config.json
  outpost verify /etc/outpost/config.json --online
`

export const GC_HELP = `outpost gc [config.json] [--dry-run]

Runs one garbage-collection pass over the storage of the given configuration (every store: the
default one and each of storage.subPaths; no config file: ./data, as "outpost serve" without one)
and prints what was removed and the bytes freed: each manifest once, each other blob, and each
repository removed because nothing was left in it. Each store uses its own gcDelay and retention.
It refuses to run while a server holds the storage: the server collects garbage online on its
own schedule (storage.gc, gcDelay, gcInterval).
--dry-run writes nothing at all and takes no lock, so it also runs while a server does; it lists
what a pass would remove now, in the same lines ("would remove", "would be removed").

Examples:
  outpost gc --dry-run
  outpost gc /etc/outpost/config.json --dry-run
  systemctl stop outpost && outpost gc /etc/outpost/config.json && systemctl start outpost
`

export const SCRUB_HELP = `outpost scrub [config.json] [--json]

Runs one scrub pass over the storage of the given configuration (every store: the default one
and each of storage.subPaths; no config file: ./data, as "outpost serve" without one): the
layout files must parse, and every manifest, config and layer reachable from each repository's
index.json must exist, have its descriptor's size and hash to its digest. Bytes shared by hard
links are hashed once.
A corrupt blob is moved to _outpost/quarantine/ (out of every repository linking it); the next
push of that content restores it. Prints a REPOSITORY TAG STATUS AFFECTED-BLOB ERROR table, or
JSON with --json. Exits 0 when everything is intact, 1 when anything is affected. Refuses while a
server holds the storage: the server scrubs on its own schedule (extensions.scrub).

Examples:
  outpost scrub
  outpost scrub /etc/outpost/config.json
  outpost scrub /etc/outpost/config.json --json | jq '.affected'
`

export const MIRROR_HELP = `outpost mirror <config.json> [--once] [--dry-run]

Runs one pass of the periodic mirror now, in the foreground, over every registry of
extensions.sync that has a pollInterval: what their content rules select and is missing here
(or whose tag moved upstream) is fetched, verified and stored, pinned against maxSize eviction.
The way to seed a board on a bench before it ships. A running server mirrors on its own
schedule (GET /v2/_outpost/mirror shows it), so this refuses while one holds the storage (exit 1,
naming its pid). extensions.sync.maxBandwidth caps it; the window does not hold it back.
  --once      one pass, then exit (the only mode: the schedule is the server's)
  --dry-run   list what would be fetched and its size; writes nothing and takes no lock, so it
              also runs beside a server
On a terminal: a progress bar on stderr and one line per image; otherwise one JSON object per
line on stdout (each image, then each registry's pass report). Exits 1 when an image failed or
a pass stopped short (upstream unreachable, disk full), 2 on a usage or configuration error.

Examples:
  outpost mirror /etc/outpost/config.json --dry-run
  outpost mirror /etc/outpost/config.json --once
`

export const SYNC_HELP = `outpost sync --to <target> [--repos GLOB] [--config FILE]
outpost sync --from <target> [--repos GLOB] [--config FILE]

Copies repositories to (--to) or from (--from) an S3 bucket named in the configuration's
uplink.targets, in the layout Outpost's S3 backend serves: another Outpost can use the bucket as
its storage (storage.storageDriver). Only what the other side lacks is copied (blobs by key and
size, index.json when it differs); an interrupted sync resumes where it stopped. Each
repository's index.json goes last, so a half-synced repository is never visible. Transfers obey
uplink.rate and the maintenance budget. --repos picks repositories by glob ("team/**"; default
every one). --config defaults to /etc/outpost/config.json.
--to only reads the local storage and may run while a server does (which can also sync on its
own: uplink.schedule). --from writes through the registry (every blob and manifest verified) and
refuses while a server holds the storage. Prints one JSON line per repository and a summary;
exits 1 when any repository failed.

Examples:
  outpost sync --to backup
  outpost sync --to backup --repos 'team/**' --config ./config.json
  outpost sync --from backup --config /etc/outpost/config.json
`

export const IMPORT_HELP = `outpost import <file|dir> [--repo NAME[:TAG]] [--config FILE]

Loads images into the registry from an oci-archive (a tar of an OCI image layout), a
docker-archive ("docker save" format) or an OCI image layout directory; a tar may be gzip-
compressed. Every digest is checked as the bytes stream in (a docker-archive layer against its
config's diff_id) and nothing becomes visible until the whole archive was read and checked: a
truncated or damaged archive, a wrong digest or an entry reaching outside the archive ("../x")
is refused and leaves nothing behind. A docker-archive image becomes an OCI image manifest over
the archive's own config and layer bytes (the config digest stays the image ID).
Names: --repo NAME puts every image into NAME, with the tags the archive gives; --repo NAME:TAG
names the archive's single image. Without --repo the archive must name its images: RepoTags
(docker), or org.opencontainers.image.ref.name "repo:tag" (as outpost export writes) or
io.containerd.image.name; a leading registry host ("docker.io/") is dropped. An image without
a tag is stored by digest. A bare tag ("latest", as skopeo writes) needs --repo NAME.
--config defaults to what "outpost serve" uses without one (./data, 127.0.0.1:5000). With no
server running the storage is written directly; while a server holds it, the import goes
through that server's HTTP API at http.address:http.port. Progress goes to stderr: a bar on a
terminal, JSON lines otherwise; one "imported" line per image on stdout.

Examples:
  outpost import ./app.tar --repo team/app:v1 --config /etc/outpost/config.json
  outpost import ./images.tar.gz --config /etc/outpost/config.json
  outpost import ./layout-dir --repo mirror/alpine
`

export const EXPORT_HELP = `outpost export REF... -o FILE|DIR [--format FORMAT] [--platform OS/ARCH[/VARIANT]]
                [--config FILE]

Writes images (REF: repo:tag, repo@sha256:..., or repo meaning repo:latest) to FILE as an
oci-archive (the default) or docker-archive, or to DIR as an OCI image layout (--format oci-dir;
DIR must be absent or empty). Multi-platform indexes are exported whole in the OCI formats.
docker-archive holds one platform per image: for an index give --platform (e.g. linux/arm64);
without it an index with more than one platform is refused, listing them. Every blob is checked
against its digest as it is written; a failed export leaves nothing at FILE or DIR. Outpost's
OCI output names each image "repo:tag" (org.opencontainers.image.ref.name), so "outpost import"
needs no --repo to load it back; docker-archive carries RepoTags.
--config and the server fallback work as for import. Progress goes to stderr.

Examples:
  outpost export team/app:v1 -o app.tar
  outpost export team/app:v1 team/db:2 -o site.tar --config /etc/outpost/config.json
  outpost export team/app:v1 -o app-docker.tar --format docker-archive --platform linux/arm64
  skopeo copy oci-archive:app.tar docker://other-registry/team/app:v1
`
