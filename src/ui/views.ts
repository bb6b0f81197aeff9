// The page's sections, each built from the same data as its JSON endpoint (linked from its
// heading): the repository list, one repository's images, and the admin sections (storage,
// background work, health). Every value goes through hono/html's escaping; nothing from a
// repository name, tag or annotation reaches the page as markup.
import { html } from 'hono/html'
import { bytes, chips, digestCell, when, type Html } from './layout.js'
import type { ImageEntry, RepositoryDetail, RepositoryPage } from './listing.js'
import type { GcView, Status, StoreStatus } from './status.js'

const ORIGIN_LABEL: Record<string, string> = {
  pushed: 'pushed',
  'pulled-through': 'pulled through',
  mirrored: 'mirrored',
  imported: 'imported',
  hosted: 'hosted read-only',
}

export function repositoryHref(name: string): string {
  return `/repository/${name.split('/').map(encodeURIComponent).join('/')}`
}

function query(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v)
  const s = q.toString()
  return s ? `?${s}` : ''
}

export function repositoryList(data: RepositoryPage, filter: string | undefined): Html {
  const json = `/v2/_outpost/repositories${query({ q: filter })}`
  const rows = data.repositories.map(
    (r) =>
      html`<tr>
        <td><a href="${repositoryHref(r.name)}">${r.name}</a></td>
        <td class="num">${r.tags.length}</td>
        <td class="num">${bytes(r.size)}</td>
        <td class="wide">${chips(r.platforms)}</td>
        <td class="wide">${chips(r.provenance.map((o) => ORIGIN_LABEL[o] ?? o))}</td>
      </tr>`,
  )
  const more = data.next
    ? html`<a rel="next" href="/${query({ q: filter, last: data.next })}">next page →</a>`
    : ''
  return html`<section id="repositories">
    <h2>Repositories <a class="json" href="${json}">JSON</a></h2>
    <form class="filter" method="get" action="/" role="search">
      <input
        type="search"
        name="q"
        value="${filter ?? ''}"
        placeholder="Filter by name"
        aria-label="Filter by name"
      />
      <button type="submit">Filter</button>
    </form>
    ${data.complete ? '' : html`<p class="warn">Still indexing stored repositories after start: the list may be incomplete.</p>`}
    ${
      rows.length === 0
        ? html`<p class="muted">
            ${filter ? 'No repository matches this filter.' : 'No repositories yet.'}
          </p>`
        : html`<table>
            <thead>
              <tr>
                <th>Name</th>
                <th class="num">Tags</th>
                <th class="num">Size</th>
                <th class="wide">Platforms</th>
                <th class="wide">Source</th>
              </tr>
            </thead>
            <tbody>
              ${rows}
            </tbody>
          </table>`
    }
    <div class="pager"><span></span>${more}</div>
  </section>`
}

function referrerCell(image: ImageEntry): Html {
  if (image.referrers.length === 0) return html`<span class="muted">—</span>`
  return html`${image.referrers.map(
    (r) =>
      html`<div><span class="chip">${kindOf(r.artifactType)}</span>${digestCell(r.digest)}</div>`,
  )}`
}

/** A referrer's kind from its artifactType (image-spec: signatures, SBOMs and others). */
function kindOf(artifactType: string | undefined): string {
  const t = (artifactType ?? '').toLowerCase()
  if (t.includes('signature') || t.includes('cosign') || t.includes('notary')) return 'signature'
  if (t.includes('spdx') || t.includes('cyclonedx') || t.includes('sbom')) return 'SBOM'
  return artifactType ?? 'artifact'
}

export function repositoryView(r: RepositoryDetail): Html {
  const json = `/v2/_outpost/repositories/${r.name}`
  const rows = r.images.map(
    (i) =>
      html`<tr>
        <td>${i.tags.length ? chips(i.tags) : html`<span class="muted">untagged</span>`}</td>
        <td>${digestCell(i.digest)}</td>
        <td class="num">${bytes(i.size)}</td>
        <td>
          ${chips(i.platforms)}${i.absentChildren ? html` <span class="muted">(+${i.absentChildren} not stored)</span>` : ''}
        </td>
        <td class="wide">${when(i.created)}</td>
        <td class="wide">${referrerCell(i)}</td>
        <td class="wide">${ORIGIN_LABEL[i.origin] ?? i.origin}</td>
      </tr>`,
  )
  return html`<section id="repository">
      <h2><span>${r.name}</span> <a class="json" href="${json}">JSON</a></h2>
      <dl class="kv">
        <dt>Size on disk</dt>
        <dd>${bytes(r.size)} <span class="muted">(blobs shared by tags counted once)</span></dd>
        <dt>Tags</dt>
        <dd>${r.tags.length}</dd>
        <dt>Source</dt>
        <dd>${r.provenance.map((o) => ORIGIN_LABEL[o] ?? o).join(', ') || '—'}</dd>
      </dl>
    </section>
    <section id="images">
      <h2>Images</h2>
      ${
        rows.length === 0
          ? html`<p class="muted">No images.</p>`
          : html`<table>
              <thead>
                <tr>
                  <th>Tags</th>
                  <th>Digest</th>
                  <th class="num">Size</th>
                  <th>Platforms</th>
                  <th class="wide">Created</th>
                  <th class="wide">Referrers</th>
                  <th class="wide">Source</th>
                </tr>
              </thead>
              <tbody>
                ${rows}
              </tbody>
            </table>`
      }
    </section>`
}

function spaceCell(s: StoreStatus): Html {
  if (!s.space) return html`<span class="muted">not measured by this backend</span>`
  const cls = s.space.belowMinimum ? 'bad' : 'ok'
  return html`<span class="${cls}">${bytes(s.space.freeBytes)} free</span> of
    ${bytes(s.space.totalBytes)}
    <span class="muted">(minimum ${bytes(s.space.minFreeBytes)})</span>`
}

function gcText(gc: GcView | undefined): Html {
  if (!gc || !gc.enabled) return html`<span class="muted">off</span>`
  const last = gc.lastPass
    ? html`last ${when(gc.lastPass.endedAt)}: freed ${bytes(gc.lastPass.bytesFreed)}
      (${gc.lastPass.manifests} manifests, ${gc.lastPass.blobs} blobs)`
    : html`<span class="muted">no pass yet</span>`
  const next = gc.running
    ? html`; a pass is running`
    : gc.nextPassAt
      ? html`; next ${when(gc.nextPassAt)}`
      : html`; no pass scheduled`
  return html`${last}${next}`
}

interface ScrubLike {
  running?: boolean
  report?: {
    startedAt?: string
    endedAt?: string
    repositories?: number
    affectedCount?: number
    affected?: Array<{ repo: string; tag?: string; blob?: string; error: string }>
  }
}

function scrubText(scrub: unknown): Html {
  const s = scrub as ScrubLike | undefined
  if (!s) return html`<span class="muted">off</span>`
  const r = s.report
  if (!r) return html`<span class="muted">no pass yet</span>`
  const state = s.running ? `running since ${when(r.startedAt)}` : `last ended ${when(r.endedAt)}`
  const damaged = r.affected ?? []
  return html`${state}, ${r.repositories ?? 0} repositories checked,
    <span class="${(r.affectedCount ?? 0) > 0 ? 'bad' : 'ok'}"
      >${r.affectedCount ?? 0} damaged</span
    >
    ${
      damaged.length > 0
        ? html`<ul>
            ${damaged.map(
              (d) =>
                html`<li>
                  <a href="${repositoryHref(d.repo)}">${d.repo}</a>${d.tag ? html`:${d.tag}` : ''}
                  ${d.blob ? digestCell(d.blob) : ''} <span class="muted">${d.error}</span>
                </li>`,
            )}
          </ul>`
        : ''
    }`
}

export function storageView(status: Status): Html {
  const rows = status.storage.map(
    (s) =>
      html`<tr>
        <td><code>${s.store}</code></td>
        <td>${s.backend}</td>
        <td class="num">${s.repositories}</td>
        <td class="num">${bytes(s.bytesUsed)}</td>
        <td>${spaceCell(s)}</td>
        <td class="num">
          ${s.dedupe.enabled ? bytes(s.dedupe.savedBytes) : html`<span class="muted">off</span>`}
        </td>
      </tr>`,
  )
  return html`<section id="storage">
    <h2>Storage <a class="json" href="/v2/_outpost/status">JSON</a></h2>
    <table>
      <thead>
        <tr>
          <th>Store</th>
          <th>Backend</th>
          <th class="num">Repos</th>
          <th class="num">Used</th>
          <th>Free space</th>
          <th class="num">Dedupe saves</th>
        </tr>
      </thead>
      <tbody>
        ${rows}
      </tbody>
    </table>
  </section>`
}

interface MirrorLike {
  enabled?: boolean
  window?: { open: boolean; closesInMinutes?: number; opensInMinutes?: number }
  registries?: Array<{
    upstream: string
    nextPassAt?: string
    lastPass?: { endedAt: string; failures: Array<{ image?: string; error?: string }> }
  }>
}

function mirrorText(mirror: unknown): Html {
  const m = mirror as MirrorLike
  if (!m || m.enabled === false)
    return html`<span class="muted">no periodic mirror configured</span>`
  const window = m.window
    ? m.window.open
      ? html`window
        open${m.window.closesInMinutes !== undefined ? ` (closes in ${m.window.closesInMinutes} min)` : ''}`
      : html`window closed (opens in ${m.window.opensInMinutes ?? '?'} min)`
    : html`any time of day`
  return html`${window}
    <ul>
      ${(m.registries ?? []).map(
        (r) =>
          html`<li>
            <code>${r.upstream}</code>: last pass ${when(r.lastPass?.endedAt)}, next
            ${when(r.nextPassAt)}${
              r.lastPass?.failures.length
                ? html`, <span class="bad">${r.lastPass.failures.length} failed</span>
                    <ul>
                      ${r.lastPass.failures.map((f) => html`<li><code>${f.image ?? ''}</code> <span class="muted">${f.error ?? ''}</span></li>`)}
                    </ul>`
                : ''
            }
          </li>`,
      )}
    </ul>`
}

export function backgroundView(status: Status): Html {
  const budget = status.background.budget as { pausedFor?: string }
  return html`<section id="background">
    <h2>Background work <a class="json" href="/v2/_outpost/status">JSON</a></h2>
    <dl class="kv">
      ${status.storage.map(
        (s) =>
          html`<dt>GC <code>${s.store}</code></dt>
            <dd>${gcText(s.gc)}</dd>
            <dt>Scrub <code>${s.store}</code></dt>
            <dd>${scrubText(s.scrub)}</dd>`,
      )}
      <dt>Mirror</dt>
      <dd>
        ${mirrorText(status.background.mirror)} <a class="json" href="/v2/_outpost/mirror">JSON</a>
      </dd>
      <dt>Pacing</dt>
      <dd>
        ${budget.pausedFor ? html`<span class="warn">paused for ${budget.pausedFor}</span>` : html`<span class="ok">running at full allowance</span>`}
      </dd>
    </dl>
  </section>`
}

export function healthView(status: Status): Html {
  const h = status.health
  return html`<section id="health">
    <h2>Health <a class="json" href="/v2/_outpost/status">JSON</a></h2>
    <dl class="kv">
      <dt>Ready</dt>
      <dd>
        ${
          h.ready
            ? html`<span class="ok">ready</span>`
            : html`<span class="bad">not ready</span>
                <code>${JSON.stringify(h.reason ?? '')}</code>`
        }
      </dd>
      <dt>Uptime</dt>
      <dd>${duration(h.uptimeSeconds)}</dd>
      <dt>Version</dt>
      <dd>${h.version}</dd>
      <dt>Memory (RSS)</dt>
      <dd>${bytes(h.rssBytes)}</dd>
    </dl>
  </section>`
}

function duration(seconds: number): string {
  const d = Math.floor(seconds / 86400)
  const h = Math.floor((seconds % 86400) / 3600)
  const m = Math.floor((seconds % 3600) / 60)
  return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : `${m}m ${seconds % 60}s`
}
