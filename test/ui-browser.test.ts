// The operator's page in a real browser (issue 18): Debian's chromium, driven by playwright-core,
// loads the page of a real server holding a few images, finds them listed with their sizes and
// platforms, filters, clicks through to a repository, and saves screenshots in the test's
// temporary folder (printed, for a person to look at).
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Browser } from 'playwright-core'
import type { RunningServer } from '../src/server/server.js'
import { haveChromium, launchChromium } from './helpers/browser.js'
import { scratchDirs, socketServer } from './helpers/harness.js'
import { makeImage, pushImage, pushIndex, pushReferrer } from './helpers/operator.js'

const dir = scratchDirs()
const chromium = await haveChromium()

describe('the operator page in chromium', () => {
  let server: RunningServer & { root: string }
  let browser: Browser
  let shots: string
  before(async () => {
    if (!chromium) return
    shots = await dir('outpost-ui-shots-')
    server = await socketServer(await dir(), {}, { ui: { enabled: true } })
    const request = (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, init)
    const app = makeImage('browser-app', 2)
    await pushImage(request, 'factory/line-controller', app, '1.4.2')
    await pushReferrer(request, 'factory/line-controller', app)
    await pushIndex(request, 'factory/vision', 'stable', 'vision')
    await pushImage(request, 'tools/busybox', makeImage('busybox'), 'latest')
    await server.storage.registry.summaries.settled()
    browser = await launchChromium()
  })
  after(async () => {
    await browser?.close()
    await server?.close()
  })

  it('lists the images, filters, and clicks through to a repository', async (t) => {
    if (!chromium) return t.skip('needs chromium (install the Debian package chromium)')
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } })
    await page.goto(`${server.url}/`)
    assert.equal(await page.title(), 'Overview · Outpost')
    const names = await page.locator('#repositories tbody td:first-child a').allTextContents()
    assert.deepEqual(names, ['factory/line-controller', 'factory/vision', 'tools/busybox'])
    const vision = page.locator('#repositories tbody tr', { hasText: 'factory/vision' })
    assert.match((await vision.textContent()) ?? '', /linux\/arm64\/v8/)
    assert.ok(
      await page.locator('#health').isVisible(),
      'an open registry shows the admin sections',
    )
    await page.screenshot({ path: join(shots, 'main.png'), fullPage: true })

    await page.fill('input[name=q]', 'vision')
    await page.click('form.filter button')
    await page.waitForURL(/q=vision/)
    assert.deepEqual(await page.locator('#repositories tbody td:first-child a').allTextContents(), [
      'factory/vision',
    ])

    await page.goto(`${server.url}/`)
    await page.click('text=factory/line-controller')
    await page.waitForURL(/\/repository\/factory\/line-controller$/)
    const row = page.locator('#images tbody tr', { hasText: '1.4.2' })
    assert.match((await row.textContent()) ?? '', /SBOM/)
    assert.match((await row.textContent()) ?? '', /linux\/amd64/)
    await page.screenshot({ path: join(shots, 'repository.png'), fullPage: true })
    t.diagnostic(`screenshots in ${shots}`)

    // On a phone the wide columns fold away and nothing overflows sideways.
    await page.setViewportSize({ width: 380, height: 800 })
    // A string: the test's tsconfig has no DOM types, and the function runs in the page.
    const overflow = await page.evaluate(
      'document.documentElement.scrollWidth > window.innerWidth + 1',
    )
    assert.equal(overflow, false)
    await page.close()
  })
})
