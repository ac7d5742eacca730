// Drives the operator's console (/ui) in Debian's chromium, headless, with
// puppeteer-core (which uses the installed browser and downloads none), as an
// operator would: the overview, a dossier's trail, a dead letter replayed
// from the page, the report for a period, the page in English. Prints one
// JSON object of what it saw; tests/integration/test_browser.py judges it.
//
//   node tests/browser/console.mjs BASE_URL SCREENSHOT_DIR DOSSIER_CODE DEAD_LETTER_ID FROM TO
import path from 'node:path';
import { openBrowser, watchedPage } from './browser.mjs';

const [base, shots, code, deadId, from, to] = process.argv.slice(2);
const { browser, close } = await openBrowser();
const seen = { errors: [], csp: [], requests: [] };
try {
  const page = await watchedPage(browser, seen);
  const shot = name => page.screenshot({ path: path.join(shots, 'console-' + name + '.png') });
  const answer = await page.goto(base + '/ui', { waitUntil: 'load' });
  seen.status = answer.status();
  seen.csp_header = answer.headers()['content-security-policy'];
  await page.waitForSelector('#overview table');
  seen.lang = await page.$eval('html', h => h.lang);
  seen.overview = await page.$eval('#overview', e => e.innerText);
  await shot('overview');

  // a dossier's trail, searched by its code
  await page.click('nav button[data-tab="2"]');
  await page.type('#trail-code', code);
  await page.click('#trail-go');
  await page.waitForSelector('#trail ol.timeline li');
  seen.trail = await page.$eval('#trail', e => e.innerText);
  await shot('trail');

  // the dead letter, chosen and replayed from the page
  await page.click('nav button[data-tab="1"]');
  await page.waitForSelector('#dlq-table');
  seen.dead_letters = await page.$$eval('#dlq .pick', cs => cs.map(c => c.dataset.id));
  await page.click('#dlq .pick[data-id="' + deadId + '"]');
  await shot('dead-letters');
  await page.click('#dlq-replay');
  await page.waitForFunction(() => document.getElementById('dlq-said').innerText.trim() !== '');
  seen.replay_said = await page.$eval('#dlq-said', e => e.innerText);
  seen.after_replay = await page.$$eval('#dlq .pick', cs => cs.map(c => c.dataset.id));
  // the rest purged: all ticked at once, the page asks first
  page.on('dialog', d => { seen.dialog = d.message(); d.accept(); });
  await page.click('#pick-all');
  await page.$eval('#dlq-said', e => { e.innerText = ''; });
  await page.click('#dlq-purge');
  await page.waitForFunction(() => document.getElementById('dlq-said').innerText.trim() !== '');
  seen.purge_said = await page.$eval('#dlq-said', e => e.innerText);
  seen.after_purge = await page.$eval('#dlq', e => e.innerText);

  // the report for a period, and its CSV link
  await page.click('nav button[data-tab="3"]');
  await page.$eval('#report-from', (e, v) => { e.value = v; }, from);
  await page.$eval('#report-to', (e, v) => { e.value = v; }, to);
  await page.click('#report-go');
  await page.waitForSelector('#report-receiving tr.total');
  seen.report_total = await page.$$eval('#report-receiving tr.total td', tds => tds.map(td => td.innerText));
  seen.csv_href = await page.$eval('#report-csv', a => a.href);
  await shot('report');

  // certificates and refusals, then the page in English
  await page.click('nav button[data-tab="4"]');
  seen.certs = await page.$eval('#certs', e => e.innerText);
  await page.click('nav button[data-tab="5"]');
  await page.waitForFunction(() => document.getElementById('refusals').innerText.trim() !== '');
  seen.refusals = await page.$eval('#refusals', e => e.innerText);
  await page.click('#lang');
  seen.nav_en = await page.$eval('#nav', e => e.innerText);
  await page.click('nav button[data-tab="0"]');
  await page.waitForFunction(() => document.getElementById('overview').innerText.includes('healthy'));
  await shot('overview-en');
  seen.csp = await page.evaluate(() => window.__csp);
} catch (e) {
  seen.errors.push('driver: ' + e.message);
} finally {
  await close();
}
process.stdout.write(JSON.stringify(seen) + '\n');
