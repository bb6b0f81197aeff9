// Makes docs/images/operator-main.png and operator-repository.png: a real server on a temporary
// root holding a few images, photographed by Debian's chromium through playwright-core.
//   node --import tsx scripts/operator-screenshots.ts
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { haveChromium, launchChromium } from '../test/helpers/browser.js'
import { makeImage, pushImage, pushIndex, pushReferrer } from '../test/helpers/operator.js'
import { socketServer, tempDir } from '../test/helpers/harness.js'

if (!(await haveChromium())) {
  console.error('needs chromium (install the Debian package chromium)')
  process.exit(1)
}
const out = join(import.meta.dirname, '..', 'docs', 'images')
const root = await tempDir('outpost-shots-')
const server = await socketServer(root, {}, { ui: { enabled: true } })
try {
  const request = (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, init)
  const controller = makeImage('line-controller', 3)
  await pushImage(request, 'factory/line-controller', makeImage('line-controller-old', 3), '1.4.1')
  await pushImage(request, 'factory/line-controller', controller, '1.4.2')
  await pushReferrer(request, 'factory/line-controller', controller)
  await pushReferrer(
    request,
    'factory/line-controller',
    controller,
    'application/vnd.dev.cosign.artifact.sig.v1+json',
  )
  await pushIndex(request, 'factory/vision', 'stable', 'vision')
  await pushImage(request, 'tools/busybox', makeImage('busybox'), 'latest')
  await pushImage(request, 'tools/mosquitto', makeImage('mosquitto', 2), '2.0')
  await server.storage.registry.summaries.settled()
  const browser = await launchChromium()
  const page = await browser.newPage({
    viewport: { width: 1100, height: 900 },
    colorScheme: 'light',
  })
  await page.goto(`${server.url}/`)
  await page.screenshot({ path: join(out, 'operator-main.png'), fullPage: true })
  await page.goto(`${server.url}/repository/factory/line-controller`)
  await page.screenshot({ path: join(out, 'operator-repository.png'), fullPage: true })
  await browser.close()
  console.log(`wrote ${join(out, 'operator-main.png')} and operator-repository.png`)
} finally {
  await server.close()
  await rm(root, { recursive: true, force: true })
}
