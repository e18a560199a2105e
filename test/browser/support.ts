import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REDIRECT } from '../support/flows.ts';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// CI installs Debian's chromium; elsewhere a machine without it reports these tests as skipped.
export const available = existsSync(CHROMIUM) || Boolean(process.env.CI);

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const SCREENSHOTS = 'test-results/screenshots';
const PHONE = { width: 375, height: 740 };

/** Debian's Chromium, headless, never reaching out to the network by itself. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * A phone-width page with JavaScript off (the pages must not need it, passkeys apart: `script`
 * turns it on); the client's callback is stubbed.
 */
export async function newPhonePage(browser: Browser, { script = false } = {}): Promise<Page> {
  const context = await browser.newContext({ javaScriptEnabled: script, viewport: PHONE });
  await context.route(`${REDIRECT}**`, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<p>client callback</p>' }));
  return context.newPage();
}

/**
 * Screenshots each page reviewed (test artefacts) and collects its serious or critical axe-core
 * violations, and sideways scrolling at phone width, by page name.
 */
export function pageReviews(browser: () => Browser) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const violations: Record<string, string[]> = {};
  return {
    violations,
    /** Checks the same HTML with axe-core in a scripted page of its own (a form's answer cannot be fetched twice); its stylesheet from the server. */
    async review(page: Page, name: string): Promise<void> {
      await page.screenshot({ path: `${SCREENSHOTS}/${name}.png`, fullPage: true });
      const html = await page.content();
      const checker = await browser().newContext({ bypassCSP: true, viewport: PHONE });
      const copy = await checker.newPage();
      await copy.route(page.url(), (route) => route.fulfill({ status: 200, contentType: 'text/html', body: html }));
      await copy.goto(page.url());
      await copy.evaluate(AXE);
      violations[name] = (await copy.evaluate(
        "axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id + ': ' + v.nodes.map((n) => n.target.join(' ')).join(', ')))",
      )) as string[];
      const scrolls = await copy.evaluate('document.documentElement.scrollWidth > window.innerWidth');
      if (scrolls) violations[name]!.push('scrolls sideways at 375 px');
      await checker.close();
    },
  };
}
