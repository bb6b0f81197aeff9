// The page's shell: one HTML document with its CSS and a few lines of plain JavaScript inline
// (no CDN, no build step: an air-gapped site gets the whole page from the board). Light and dark
// follow prefers-color-scheme; the layout is one column that widens on a laptop.
import { html, raw } from 'hono/html'
import type { HtmlEscapedString } from 'hono/utils/html'

export type Html = HtmlEscapedString | Promise<HtmlEscapedString>

const CSS = `
:root{--bg:#f7f7f5;--fg:#1d1f21;--muted:#5f6368;--card:#fff;--line:#dcdcd8;--accent:#0b5cad;
--bad:#b3261e;--ok:#1e7b34;--warn:#8a5a00;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#15171a;--fg:#e6e6e3;--muted:#a0a4a8;--card:#1e2125;
--line:#33373c;--accent:#7cb7ff;--bad:#ff8a80;--ok:#7ddc8f;--warn:#f3c969}}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--fg);
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:baseline;padding:.8rem 1rem;
border-bottom:1px solid var(--line);background:var(--card)}
header h1{font-size:1.1rem;margin:0}header a{color:inherit;text-decoration:none}
header .who{margin-left:auto;color:var(--muted);font-size:.9rem}
main{max-width:72rem;margin:0 auto;padding:1rem}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.8rem 1rem;
margin:0 0 1rem}
h2{font-size:1rem;margin:0 0 .6rem;display:flex;gap:.6rem;align-items:baseline}
h2 .json,.json{font-size:.8rem;font-weight:normal;color:var(--muted)}
a{color:var(--accent)}
table{width:100%;border-collapse:collapse}th,td{text-align:left;padding:.35rem .4rem;
border-bottom:1px solid var(--line);vertical-align:top}th{font-size:.8rem;color:var(--muted);
font-weight:600}td.num,th.num{text-align:right;white-space:nowrap}
code{font:.85rem/1.3 ui-monospace,SFMono-Regular,Menlo,monospace;overflow-wrap:anywhere}
.chip{display:inline-block;border:1px solid var(--line);border-radius:1rem;padding:0 .45rem;
margin:0 .2rem .2rem 0;font-size:.8rem;white-space:nowrap}
.muted{color:var(--muted)}.bad{color:var(--bad)}.ok{color:var(--ok)}.warn{color:var(--warn)}
button.copy{font-size:.75rem;border:1px solid var(--line);background:transparent;color:inherit;
border-radius:4px;padding:0 .35rem;cursor:pointer;margin-left:.3rem}
form.filter{display:flex;gap:.5rem;margin:0 0 .6rem}form.filter input{flex:1;min-width:0;
padding:.4rem .5rem;border:1px solid var(--line);border-radius:4px;background:var(--bg);
color:inherit;font:inherit}form.filter button{padding:.4rem .8rem;font:inherit}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:0}
dl.kv dt{color:var(--muted)}dl.kv dd{margin:0}
.grid{display:grid;gap:1rem;grid-template-columns:repeat(auto-fit,minmax(20rem,1fr))}
.pager{display:flex;justify-content:space-between;margin-top:.6rem}
@media (max-width:40rem){.wide{display:none}td,th{padding:.3rem .25rem}main{padding:.6rem}}
`

// Copy buttons: the digest is in the button's data attribute (escaped like any attribute).
const SCRIPT = `
document.addEventListener('click', function (e) {
  var b = e.target.closest && e.target.closest('button.copy')
  if (!b || !navigator.clipboard) return
  navigator.clipboard.writeText(b.dataset.copy).then(function () {
    b.textContent = 'copied'
    setTimeout(function () { b.textContent = 'copy' }, 1200)
  })
})
`

export function page(title: string, who: string | undefined, body: Html): Html {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light dark" />
        <title>${title} · Outpost</title>
        <style>
          ${raw(CSS)}
        </style>
      </head>
      <body>
        <header>
          <h1><a href="/">Outpost</a></h1>
          <span class="muted">${title}</span>
          <span class="who">${who === undefined ? 'anonymous' : `signed in as ${who}`}</span>
        </header>
        <main>${body}</main>
        <script>
          ${raw(SCRIPT)}
        </script>
      </body>
    </html>`
}

/** A short digest ("sha256:0123456789ab") with a copy button for the whole one. */
export function digestCell(digest: string): Html {
  const short = digest.replace(/^(\w+:)(.{12}).*$/, '$1$2')
  return html`<code title="${digest}">${short}</code
    ><button class="copy" type="button" data-copy="${digest}">copy</button>`
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`
}

export function when(iso: string | undefined): string {
  if (!iso) return '—'
  const t = Date.parse(iso)
  return Number.isNaN(t)
    ? iso
    : new Date(t).toISOString().replace('T', ' ').replace(/\..*$/, ' UTC')
}

export function chips(items: readonly string[]): Html {
  return html`${items.map((i) => html`<span class="chip">${i}</span>`)}`
}
