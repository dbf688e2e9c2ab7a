// The passkey browser test's page side (tests/e2e/browser.rs starts it): headless Debian
// Chromium driven by playwright-core, with a DevTools virtual authenticator (CTAP2,
// internal, resident keys, user verification). A loopback server of its own serves the
// page at PAGE_ORIGIN (http://localhost:<port>, an origin the Worker accepts; a real
// loopback server, as Chromium's local-network checks refuse a page of no address
// calling a loopback one), and the page calls the Worker at WORKER_URL with fetch, as a
// frontend would: register/options → navigator.credentials.create → toJSON →
// register/verify, then login/options without an email → navigator.credentials.get →
// login/verify. Prints one JSON line with what it saw.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const { WORKER_URL, PAGE_ORIGIN, API_PREFIX, ACCESS_TOKEN, PASSWORD } = process.env;
for (const [name, value] of Object.entries({ WORKER_URL, PAGE_ORIGIN, API_PREFIX, ACCESS_TOKEN, PASSWORD })) {
  if (!value) throw new Error(`${name} is not set`);
}

const PAGE = '<!doctype html><meta charset="utf-8"><title>passkeys</title><p>edge-auth e2e</p>';
const port = Number(new URL(PAGE_ORIGIN).port);
const listen = (host) =>
  new Promise((resolve) => {
    const server = createServer((request, response) => {
      response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      response.end(PAGE);
    });
    // `localhost` may resolve to ::1 as well: serve both where the host has them.
    server.once('error', () => resolve(null));
    server.listen(port, host, () => resolve(server));
  });
const servers = (await Promise.all([listen('127.0.0.1'), listen('::1')])).filter(Boolean);
if (servers.length === 0) throw new Error(`cannot serve the page on port ${port}`);

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
  servers.forEach((server) => server.close());
  rmSync(profile, { recursive: true, force: true });
}
