// Drives Debian's Chromium with playwright-core for tests/browser.rs.
//
//   node drive.mjs walkthrough   opens config.page (another origin than the
//                                gateways) and runs its walkthrough()
//   node drive.mjs docs          opens config.docs (a gateway's /docs), shows
//                                each document and screenshots it
//
// Configuration comes in RCR_BROWSER_CONFIG (JSON; it carries the admin's
// password, kept off the command line); RCR_BROWSER_MODULES is the folder
// holding node_modules/playwright-core (deploy/local/install-deps.sh
// --browser puts it in the target directory). The result is one JSON line
// on stdout: what the page returned, the browser's console and page
// errors, and the requests it could not make.

import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const mode = process.argv[2];
const config = JSON.parse(process.env.RCR_BROWSER_CONFIG ?? '{}');
const modules = process.env.RCR_BROWSER_MODULES;
const { chromium } = createRequire(path.join(modules, 'package.json'))('playwright-core');

// Past this the test has failed; exit rather than hang the suite.
const deadline = setTimeout(() => {
  console.error(`drive.mjs: ${mode} did not finish within 90 s`);
  process.exit(3);
}, 90_000);

// Without the background-networking flags Chromium reaches out to Google
// services at start-up, which a closed network refuses.
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

async function withBrowser(work) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'rcr-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: config.chromium,
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 900 },
  });
  const seen = { console: [], pageErrors: [], failedRequests: [] };
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => seen.console.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => seen.pageErrors.push(String(e)));
    page.on('requestfailed', (r) => seen.failedRequests.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
    const result = await work(page);
    return { ...seen, browser: context.browser()?.version() ?? null, result };
  } catch (error) {
    return { ...seen, error: String(error?.stack ?? error) };
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

async function walkthrough(page) {
  await page.goto(config.page);
  try {
    return await page.evaluate((args) => window.walkthrough(args), {
      sa: config.sa,
      eu: config.eu,
      adminEmail: config.adminEmail,
      adminPassword: config.adminPassword,
    });
  } finally {
    await page.screenshot({ path: path.join(config.artifacts, 'walkthrough.png'), fullPage: true });
  }
}

async function docs(page) {
  await page.goto(config.docs);
  const title = page.locator('.swagger-ui .information-container .title');
  const documents = [];
  for (const name of ['auth', 'reviews', 'content']) {
    await page.locator('#select').selectOption({ label: name });
    const service = { auth: 'auth', reviews: 'reviews-writer', content: 'content-reader' }[name];
    await title.filter({ hasText: service }).waitFor({ timeout: 20_000 });
    await page.locator('.opblock').first().waitFor();
    const shot = path.join(config.artifacts, `docs-${name}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    documents.push({
      name,
      title: (await title.innerText()).trim(),
      operations: await page.locator('.opblock').count(),
      screenshot: shot,
    });
  }
  const fallbackShown = await page.locator('#fallback').isVisible();
  return { documents, fallbackShown };
}

const work = { walkthrough, docs }[mode];
if (!work) {
  console.error(`drive.mjs: unknown mode ${mode} (walkthrough or docs)`);
  process.exit(2);
}
fs.mkdirSync(config.artifacts, { recursive: true });
const outcome = await withBrowser(work);
clearTimeout(deadline);
process.stdout.write(`${JSON.stringify(outcome)}\n`);
