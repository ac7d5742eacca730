// The operator's console over an admin listener that asks a token (HTTPS,
// admin_token_file), in Debian's chromium, headless: the page asks for the
// token, takes it once, then shows the overview and replays a dead letter.
// The dev PKI's certificate is not in chromium's store: it is accepted here
// (acceptInsecureCerts), the page and its checks are the same. Prints one
// JSON object of what it saw; tests/integration/test_browser.py judges it.
//
//   node tests/browser/token.mjs BASE_URL SCREENSHOT_DIR TOKEN DEAD_LETTER_ID
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

const [base, shots, token, deadId] = process.argv.slice(2);
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'lienthong-chromium-'));
const browser = await puppeteer.launch({
  executablePath: process.env.LT_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  acceptInsecureCerts: true,
  userDataDir: profile,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
         '--disable-sync', '--no-first-run', '--user-data-dir=' + profile],
});
const seen = { errors: [], csp: [], requests: [] };
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1200, height: 760 });
  // the first answers are 401 until the token is given: expected, not errors of the page
  page.on('console', m => {
    if ((m.type() === 'error' || m.type() === 'warning') && !/401/.test(m.text())) seen.errors.push(m.type() + ': ' + m.text());
  });
  page.on('pageerror', e => seen.errors.push('pageerror: ' + e.message));
  page.on('request', r => seen.requests.push(r.url()));
  await page.evaluateOnNewDocument(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
  });
  const answer = await page.goto(base + '/ui', { waitUntil: 'load' });
  seen.status = answer.status();
  await page.waitForSelector('#auth:not([hidden])');
  seen.asked = await page.$eval('#auth', e => e.innerText);
  await page.screenshot({ path: path.join(shots, 'console-token.png') });
  await page.type('#token', token);
  await page.click('#token-go');
  await page.waitForSelector('#overview table');
  seen.overview = await page.$eval('#overview', e => e.innerText);
  seen.auth_hidden = await page.$eval('#auth', e => e.hidden);
  seen.stored = await page.evaluate(() => [sessionStorage.getItem('lienthong.token') !== null,
                                            localStorage.getItem('lienthong.token') !== null]);

  await page.click('nav button[data-tab="1"]');
  await page.waitForSelector('#dlq-table');
  await page.click('#dlq .pick[data-id="' + deadId + '"]');
  await page.click('#dlq-replay');
  await page.waitForFunction(() => document.getElementById('dlq-said').innerText.trim() !== '');
  seen.replay_said = await page.$eval('#dlq-said', e => e.innerText);
  seen.csp = await page.evaluate(() => window.__csp);
} catch (e) {
  seen.errors.push('driver: ' + e.message);
} finally {
  await browser.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(seen));
