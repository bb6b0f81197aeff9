// Debian's chromium driven by playwright-core (which never downloads a browser): headless, no
// sandbox (tests run as root), no background traffic (an air-gapped CI machine).
import { access } from 'node:fs/promises'
import type { Browser } from 'playwright-core'

export const CHROMIUM = '/usr/bin/chromium'

export async function haveChromium(): Promise<boolean> {
  return access(CHROMIUM).then(
    () => true,
    () => false,
  )
}

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core')
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update'],
  })
}
