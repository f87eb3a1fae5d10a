// Registers a passkey and signs in with it as the second factor, in headless Chromium
// with a virtual authenticator (Chrome DevTools Protocol, WebAuthn domain). An
// administrator signs in with a one-time password, chooses a new one, sets up 2FA with
// a passkey instead of an app, signs out, and signs in again with password and passkey.
// Prints what happened as JSON. Used by cmd/aula-server's TestWebAuthnInBrowser.
//   node e2e/webauthn.mjs BASE_URL EMAIL ONE_TIME_PASSWORD NEW_PASSWORD SCREENSHOT.png
import { chromium } from 'playwright-core';

const [base, email, oneTime, newPassword, screenshot] = process.argv.slice(2);
const result = { errors: [], steps: [], registered: '', signedIn: false, credentials: [] };

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
try {
  // Aula's certificate is self-signed for this test run.
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' && !(m.location().url || '').endsWith('/favicon.ico')) result.errors.push('console: ' + m.text());
  });
  page.on('pageerror', (e) => result.errors.push('page: ' + e.message));
  page.on('response', (r) => { if (r.status() >= 400) result.errors.push(`HTTP ${r.status()} ${new URL(r.url()).pathname}`); });

  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });
  const step = () => result.steps.push(new URL(page.url()).pathname);

  const signIn = async (password) => {
    await page.goto(base + '/signin');
    await page.fill('form[action="/signin"] input[name=email]', email);
    await page.fill('form[action="/signin"] input[name=password]', password);
    await Promise.all([page.waitForNavigation(), page.click('form[action="/signin"] button[type=submit]')]);
    step();
  };

  // First sign-in: forced password change, then forced 2FA set-up with a passkey.
  await signIn(oneTime);
  await page.fill('input[name=current]', oneTime);
  await page.fill('input[name=new]', newPassword);
  await page.fill('input[name=confirm]', newPassword);
  await Promise.all([page.waitForNavigation(), page.click('form[action="/account/password"] button[type=submit]')]);
  step();
  await page.fill('#webauthn-name', 'Virtual passkey');
  // The first second factor comes with recovery codes, shown once in the page.
  await page.click('#webauthn-register-button');
  await page.waitForSelector('#webauthn-codes:not([hidden])', { timeout: 20000 });
  result.codes = await page.$$eval('#webauthn-codes li code', (els) => els.map((e) => e.textContent));
  await Promise.all([page.waitForNavigation(), page.click('#webauthn-continue')]);
  step();
  await page.goto(base + '/account/2fa');
  result.registered = ((await page.textContent('table.passkeys tbody')) || '').trim();
  const creds = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  result.credentials = creds.credentials.map((c) => ({ rpId: c.rpId, signCount: c.signCount, resident: c.isResidentCredential }));

  // Sign out, and in again: the second step with the passkey.
  await Promise.all([page.waitForNavigation(), page.click('header form[action="/signout"] button')]);
  await signIn(newPassword);
  await Promise.all([page.waitForURL(base + '/recordings', { timeout: 20000 }), page.click('#webauthn-signin-button')]);
  step();
  result.signedIn = true;
  result.heading = ((await page.textContent('h1')) || '').trim();
  const after = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  result.signCountAfter = after.credentials.map((c) => c.signCount);
  await page.screenshot({ path: screenshot });
  await page.goto(base + '/account/2fa');
  result.usedRow = ((await page.textContent('table.passkeys tbody')) || '').trim();
  // A recovery code stands in for a lost key, once.
  await Promise.all([page.waitForNavigation(), page.click('header form[action="/signout"] button')]);
  await signIn(newPassword);
  await page.fill('form[action="/signin/2fa"] input[name=code]', result.codes[0] || 'none');
  await Promise.all([page.waitForNavigation(), page.click('form[action="/signin/2fa"] button[type=submit]')]);
  step();
  // The users page shows the key as the administrator's second factor.
  await page.goto(base + '/admin/users');
  result.usersRow = ((await page.textContent(`tr:has(td:text-is("${email}"))`)) || '').replace(/\s+/g, ' ').trim();
} catch (e) {
  result.errors.push('script: ' + e.message);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
