// Signs in to an Aula server in headless Chromium, opens a recording's player and plays
// it, then prints what happened as JSON. Used by cmd/aula-server's browser test.
//   node e2e/play.mjs BASE_URL EMAIL PASSWORD RECORDING_ID SCREENSHOT.png
import { chromium } from 'playwright-core';

const [base, email, password, recording, screenshot] = process.argv.slice(2);
const result = { errors: [], signedIn: false, listed: false, currentTime: 0, frames: {}, sizes: {} };

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--autoplay-policy=no-user-gesture-required',
  ],
});
try {
  // The server's certificate is self-signed for this test run.
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') result.errors.push('console: ' + m.text()); });
  page.on('pageerror', (e) => result.errors.push('page: ' + e.message));
  page.on('response', (r) => { if (r.status() >= 400) result.errors.push(`HTTP ${r.status()} ${new URL(r.url()).pathname.replace(/\/play\/[^/]+\//, '/play/TOKEN/')}`); });

  await page.goto(base + '/recordings');
  await page.waitForURL('**/signin');
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL('**/recordings'), page.click('button[type=submit]')]);
  result.signedIn = true;
  const link = page.locator(`a[href="/recordings/${recording}"]`);
  result.listed = (await link.count()) === 1;
  await Promise.all([page.waitForURL(`**/recordings/${recording}`), link.click()]);
  await page.click('#play');
  await page.waitForFunction(() => document.getElementById('main').currentTime > 5, null, { timeout: 60000 });
  const state = await page.evaluate(() => {
    const out = { currentTime: 0, frames: {}, sizes: {} };
    for (const v of document.querySelectorAll('video')) {
      out.frames[v.id] = v.getVideoPlaybackQuality().totalVideoFrames;
      out.sizes[v.id] = `${v.videoWidth}x${v.videoHeight}`;
    }
    out.currentTime = document.getElementById('main').currentTime;
    return out;
  });
  Object.assign(result, state);
  await page.click('#layout'); // picture in picture
  await page.waitForTimeout(500);
  await page.screenshot({ path: screenshot });
} catch (e) {
  result.errors.push('script: ' + e.message);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
