// Real-browser helpers: Debian's Chromium driven by playwright-core, and an axe accessibility check.
import { existsSync } from 'node:fs';
import { AxeBuilder } from '@axe-core/playwright';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

// The flags from DESIGN.md "Stack". Playwright adds --headless and --no-sandbox itself as well; repeating a
// switch is harmless and keeps this list identical to the documented one. --no-sandbox is required because CI
// runs as root, where Chromium refuses to start with its sandbox.
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function isBrowserAvailable(): boolean {
  return existsSync(CHROMIUM_PATH);
}

/**
 * Launches headless Chromium. The caller closes it (`await browser.close()`). `extraArgs` adds
 * switches such as --host-resolver-rules, for tests that need real host names on loopback.
 */
export async function launchBrowser(extraArgs: readonly string[] = []): Promise<Browser> {
  const launch = () => chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS, ...extraArgs],
    timeout: 45_000,
  });
  // A start that hangs (seen once on a fresh machine while property tests held both cores) is Chromium's
  // start-up, not what a test checks: one more try, and a second hang fails the test as before.
  try {
    return await launch();
  } catch (err) {
    if ((err as Error).name !== 'TimeoutError') throw err;
    return launch();
  }
}

export interface AccessibilityOptions {
  /** Only run axe rules with these tags, e.g. ['wcag2a', 'wcag2aa', 'wcag21aa']. Default: all rules. */
  tags?: string[];
  /** Rule ids to skip, each deserving a comment at the call site. */
  disableRules?: string[];
}

/**
 * Runs axe-core on the page and returns its serious and critical violations, one readable string per
 * violation (rule, impact, help text, offending elements), so a test can `assert.deepEqual(result, [])`
 * and get a useful diff when it fails.
 *
 * The page must come from `browser.newContext()` then `context.newPage()`, not `browser.newPage()`: axe opens a
 * helper page in the page's context to combine results across frames, which Playwright forbids for the
 * single-page contexts browser.newPage() makes.
 */
export async function checkAccessibility(page: Page, options: AccessibilityOptions = {}): Promise<string[]> {
  let builder = new AxeBuilder({ page });
  if (options.tags) builder = builder.withTags(options.tags);
  if (options.disableRules) builder = builder.disableRules(options.disableRules);
  const results = await builder.analyze();
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => {
      const targets = v.nodes.map((node) => `    ${node.target.join(' ')}: ${node.failureSummary ?? ''}`.trimEnd());
      return [`[${v.impact}] ${v.id}: ${v.help} (${v.helpUrl})`, ...targets].join('\n');
    });
}
