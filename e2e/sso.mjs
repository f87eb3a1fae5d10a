// Signs in to an Aula server with single sign-on in headless Chromium: the sign-in
// page's organisation form, the provider's login page, back to Aula. Prints what
// happened as JSON. Used by cmd/aula-server's TestSSOInBrowser.
//   node e2e/sso.mjs BASE_URL EMAIL IDP_USERNAME IDP_PASSWORD SCREENSHOT.png
import { chromium } from 'playwright-core';

const [base, email, username, password, screenshot] = process.argv.slice(2);
const result = { errors: [], signedIn: false, url: '', heading: '', atIdP: '' };

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
try {
  // Aula's certificate is self-signed for this test run; the provider is plain HTTP on
  // 127.0.0.1.
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  // The example provider has no favicon; Chromium's request for it is not Aula's fault.
  page.on('console', (m) => {
    if (m.type() === 'error' && !(m.location().url || '').endsWith('/favicon.ico')) result.errors.push('console: ' + m.text() + ' ' + (m.location().url || ''));
  });
  page.on('pageerror', (e) => result.errors.push('page: ' + e.message));
  page.on('response', (r) => { if (r.status() >= 400) result.errors.push(`HTTP ${r.status()} ${new URL(r.url()).pathname}`); });

  await page.goto(base + '/recordings');
  await page.waitForURL('**/signin');
  await page.fill('#sso input[name=email]', email);
  await page.screenshot({ path: screenshot.replace(/\.png$/, '-signin.png') });
  await Promise.all([page.waitForURL('**/login/username**'), page.click('#sso button[type=submit]')]);
  result.atIdP = page.url();
  await page.fill('#username', username);
  await page.fill('#password', password);
  await Promise.all([page.waitForURL(base + '/recordings'), page.click('button[type=submit]')]);
  result.signedIn = true;
  result.url = page.url();
  result.heading = (await page.textContent('h1')).trim();
  await page.screenshot({ path: screenshot });
} catch (e) {
  result.errors.push('script: ' + e.message);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
