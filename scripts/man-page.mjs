// outpost(1), rendered from the CLI's own help texts (src/cli/help.ts): the help is the one
// source, and the man page cannot drift from it. Usage:
//   node scripts/man-page.mjs <compiled help.js> > outpost.1
// (build-deb.sh passes the help.js it just compiled; the test renders from src through tsx.)
import { pathToFileURL } from 'node:url'

/** roff-escape one line of preformatted text. */
const roff = (line) =>
  line
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/^([.'])/, '\\&$1')

const block = (text) => ['.nf', ...text.trimEnd().split('\n').map(roff), '.fi']

/** The page for the help texts `help` exports (MAIN_HELP, SERVE_HELP, ...). */
export function renderManPage(help) {
  const commands = Object.entries(help)
    .filter(([name]) => name !== 'MAIN_HELP' && name.endsWith('_HELP'))
    .map(([name, text]) => ['.SS ' + name.replace(/_HELP$/, '').toLowerCase(), ...block(text)])
  return [
    '.TH OUTPOST 1 "" "outpost" "User Commands"',
    '.SH NAME',
    'outpost \\- OCI container registry for edge and IoT hardware',
    '.SH SYNOPSIS',
    ...block(help.MAIN_HELP),
    '.SH DESCRIPTION',
    '.B outpost',
    'serves the OCI Distribution API (v1.1), storing each repository as an OCI image layout.',
    'On a Debian install it runs as the',
    '.B outpost.service',
    'systemd unit, as the',
    '.B outpost',
    'user, with the configuration in',
    '.I /etc/outpost/config.json',
    'and the images in',
    '.IR /var/lib/outpost .',
    '.SH COMMANDS',
    'Each section is what',
    '.B outpost',
    '.I command',
    '.B \\-\\-help',
    'prints.',
    ...commands.flat(),
    '.SH FILES',
    '.TP',
    '.I /etc/outpost/config.json',
    "The configuration (zot's format; comments allowed).",
    '.TP',
    '.I /usr/share/doc/outpost/examples/config.example.json',
    'Every setting, commented.',
    '.TP',
    '.I /usr/share/doc/outpost/docs/',
    'The documentation pages: configuration reference, storage, GC, scrub, upstreams, operations.',
    '.TP',
    '.I /var/lib/outpost',
    'The storage root; kept when the package is purged.',
    '.SH SEE ALSO',
    '.BR systemctl (1),',
    '.BR journalctl (1),',
    '.BR skopeo (1)',
    '',
  ].join('\n')
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const help = await import(pathToFileURL(process.argv[2]).href)
  process.stdout.write(renderManPage(help))
}
