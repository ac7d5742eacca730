// The browser both drivers use: Debian's chromium, headless, through puppeteer-core
// (which uses the installed browser and downloads none), with a profile of its own, and a
// page that records what an operator would call a fault — console errors and warnings
// (but those `ignore` matches), page errors, failed requests — every URL it asks for and,
// after `cspViolations(page)`, every Content-Security-Policy violation the browser reports.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

export async function openBrowser({ insecureCerts = false } = {}) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'lienthong-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: process.env.LT_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    acceptInsecureCerts: insecureCerts,
    userDataDir: profile,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
           '--disable-sync', '--no-first-run', '--user-data-dir=' + profile],
  });
  const close = async () => {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { browser, close };
}

export async function watchedPage(browser, seen, ignore = null) {
  const page = await browser.newPage();
  await page.setViewport({ width: 1200, height: 760 });
  page.on('console', m => {
    if ((m.type() === 'error' || m.type() === 'warning') && !(ignore && ignore.test(m.text())))
      seen.errors.push(m.type() + ': ' + m.text());
  });
  page.on('pageerror', e => seen.errors.push('pageerror: ' + e.message));
  page.on('request', r => seen.requests.push(r.url()));
  page.on('requestfailed', r => seen.errors.push('request failed: ' + r.url() + ' ' + (r.failure() || {}).errorText));
  await page.evaluateOnNewDocument(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
  });
  return page;
}
