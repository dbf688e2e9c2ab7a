// The passkey browser test's page side (tests/e2e/browser.rs starts it): headless Debian
// Chromium driven by playwright-core, with a DevTools virtual authenticator (CTAP2,
// internal, resident keys, user verification). The page is served by interception at
// PAGE_ORIGIN (an origin the Worker accepts) and calls the Worker at WORKER_URL with
// fetch, as a frontend would: register/options → navigator.credentials.create →
// toJSON → register/verify, then login/options without an email →
// navigator.credentials.get → login/verify. Prints one JSON line with what it saw.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const { WORKER_URL, PAGE_ORIGIN, API_PREFIX, ACCESS_TOKEN, PASSWORD } = process.env;
for (const [name, value] of Object.entries({ WORKER_URL, PAGE_ORIGIN, API_PREFIX, ACCESS_TOKEN, PASSWORD })) {
  if (!value) throw new Error(`${name} is not set`);
}

const profile = mkdtempSync(join(tmpdir(), 'edge-auth-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  await page.route(`${PAGE_ORIGIN}/**`, (route) =>
    route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>passkeys</title><p>e2e</p>' }),
  );
  await page.goto(`${PAGE_ORIGIN}/`);

  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });

  const result = await page.evaluate(
    async ({ worker, prefix, token, password }) => {
      const call = async (path, body, auth) => {
        const headers = { 'Content-Type': 'application/json' };
        if (auth) headers.Authorization = `Bearer ${auth}`;
        const response = await fetch(`${worker}${prefix}/auth/${path}`, {
          method: 'POST',
          headers,
          body: JSON.stringify(body),
        });
        const text = await response.text();
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON: reported as text */ }
        return { status: response.status, json, text };
      };
      const out = { secureContext: window.isSecureContext };
      const creation = await call('passkeys/register/options', { current_password: password }, token);
      out.registerOptions = creation.status;
      if (creation.status !== 200) return { ...out, error: creation.text };
      const created = await navigator.credentials.create({
        publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(creation.json.options),
      });
      const registration = created.toJSON();
      out.registrationAlgorithm = registration.response.publicKeyAlgorithm;
      const verified = await call(
        'passkeys/register/verify',
        { challenge_id: creation.json.challenge_id, credential: registration, name: 'Virtual authenticator' },
        token,
      );
      out.registerVerify = verified.status;
      out.passkey = verified.json;
      if (verified.status !== 201) return { ...out, error: verified.text };

      const request = await call('passkeys/login/options', {});
      out.loginOptions = request.status;
      if (request.status !== 200) return { ...out, error: request.text };
      const got = await navigator.credentials.get({
        publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(request.json.options),
      });
      const assertion = got.toJSON();
      out.assertionHasUserHandle = typeof assertion.response.userHandle === 'string';
      const login = await call('passkeys/login/verify', { challenge_id: request.json.challenge_id, credential: assertion });
      out.loginVerify = login.status;
      out.login = login.json;
      if (login.status !== 200) out.error = login.text;
      return out;
    },
    { worker: WORKER_URL, prefix: API_PREFIX, token: ACCESS_TOKEN, password: PASSWORD },
  );
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  result.residentCredentials = credentials.filter((c) => c.isResidentCredential).length;
  result.signCount = credentials.map((c) => c.signCount);
  console.log(JSON.stringify(result));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
