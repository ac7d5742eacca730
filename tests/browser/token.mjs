// The operator's console over an admin listener that asks a token (HTTPS,
// admin_token_file), in Debian's chromium, headless: the page asks for the
// token, takes it once, then shows the overview and replays a dead letter.
// The dev PKI's certificate is not in chromium's store: it is accepted here
// (acceptInsecureCerts), the page and its checks are the same. Prints one
// JSON object of what it saw; tests/integration/test_browser.py judges it.
//
//   node tests/browser/token.mjs BASE_URL SCREENSHOT_DIR TOKEN DEAD_LETTER_ID
import path from 'node:path';
import { openBrowser, watchedPage } from './browser.mjs';

const [base, shots, token, deadId] = process.argv.slice(2);
const { browser, close } = await openBrowser({ insecureCerts: true });
const seen = { errors: [], csp: [], requests: [] };
try {
  // the first answers are 401 until the token is given: expected, not errors of the page
  const page = await watchedPage(browser, seen, /401/);
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
  await close();
}
console.log(JSON.stringify(seen));
