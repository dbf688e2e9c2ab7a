// The OIDC providers of the OAuth tests (Google and Microsoft), one `oauth2-mock-server`
// service each on its own loopback port, started by tests/e2e/harness/oidc_mock.rs:
//   node oidc-mock.mjs '[{"name":"google","client_id":"…","client_secret":"…"}, …]'
// Prints one line, {"google": "http://127.0.0.1:PORT", …}, once every provider listens.
//
// The mock issues codes at /authorize, checks PKCE at /token when a code_verifier comes,
// copies the authorize request's nonce into the ID token and signs it with its JWKS (/jwks).
// Around it, this script checks what a real provider checks and the mock does not: the
// client's id and secret, a code issued here and used once, the authorize request's
// redirect_uri, and a code_verifier whenever the code was issued with a code_challenge.
//
// Each test arranges its own case for the code it was issued (tests run in parallel):
//   POST /__arrange {"code", "claims"?: {…merged into the ID token}, "remove"?: [claim…],
//                    "sign"?: "foreign" | "unknown_kid" | "none" | "hs256" | "es256",
//                    "status"?: N, "body"?: {…} (the token endpoint answers that instead),
//                    "delay_ms"?: N, "omit_id_token"?: true}
//   GET /__seen?code=…  → {"authorize": {query}, "token": {"form", "headers"} | null}
// `es256` signs with a second key that /jwks also publishes (an EC key, `alg: ES256`).
import http from "node:http";
import { Readable } from "node:stream";
import { OAuth2Issuer, OAuth2Service } from "oauth2-mock-server";
import { SignJWT, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK } from "jose";

const providers = JSON.parse(process.argv[2]);

const b64url = (data) => Buffer.from(data).toString("base64url");

async function start({ name, client_id: clientId, client_secret: clientSecret }) {
  const issuer = new OAuth2Issuer();
  await issuer.keys.generate("RS256");
  const service = new OAuth2Service(issuer);

  // Published beside the mock's own key: a valid ES256 signer.
  const ec = await generateKeyPair("ES256", { extractable: true });
  const ecPublic = { ...(await exportJWK(ec.publicKey)), kid: `${name}-es256`, alg: "ES256", use: "sig" };
  // Never published: an RSA key of the same shape, for forgeries.
  const foreign = await generateKeyPair("RS256", { extractable: true });

  const arranged = new Map(); // code -> arrangement
  const authorized = new Map(); // code -> {query, used}
  const seen = new Map(); // code -> {form, headers}

  service.on("beforeAuthorizeRedirect", (redirect, req) => {
    const query = Object.fromEntries(new URL(req.url, "http://mock").searchParams);
    const code = redirect.url.searchParams.get("code");
    if (code) authorized.set(code, { query, used: false });
  });

  // The ID token is the one the mock gives an `aud` (its access token has none).
  service.on("beforeTokenSigning", (token, req) => {
    const arrangement = arranged.get(req.body?.code);
    if (!arrangement || !("aud" in token.payload)) return;
    Object.assign(token.payload, arrangement.claims ?? {});
    for (const claim of arrangement.remove ?? []) delete token.payload[claim];
  });

  async function resign(idToken, how) {
    const header = decodeProtectedHeader(idToken);
    const payload = decodeJwt(idToken);
    switch (how) {
      case "foreign": // the genuine kid, another key's signature
        return new SignJWT(payload).setProtectedHeader({ alg: "RS256", typ: "JWT", kid: header.kid }).sign(foreign.privateKey);
      case "unknown_kid":
        return new SignJWT(payload).setProtectedHeader({ alg: "RS256", typ: "JWT", kid: `${name}-outsider` }).sign(foreign.privateKey);
      case "none":
        return `${b64url(JSON.stringify({ alg: "none", typ: "JWT", kid: header.kid }))}.${b64url(JSON.stringify(payload))}.`;
      case "hs256": // HMAC keyed with the client secret: the classic algorithm confusion
        return new SignJWT(payload)
          .setProtectedHeader({ alg: "HS256", typ: "JWT", kid: header.kid })
          .sign(new TextEncoder().encode(clientSecret));
      case "es256":
        return new SignJWT(payload).setProtectedHeader({ alg: "ES256", typ: "JWT", kid: ecPublic.kid }).sign(ec.privateKey);
      default:
        throw new Error(`unknown sign mode ${how}`);
    }
  }

  const readBody = (req) =>
    new Promise((resolve, reject) => {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => resolve(Buffer.concat(chunks)));
      req.on("error", reject);
    });

  const json = (res, status, body) => {
    res.writeHead(status, { "Content-Type": "application/json" });
    res.end(JSON.stringify(body));
  };

  // Runs the mock's handler on a replayed request and captures its answer.
  const runMock = (req, raw) =>
    new Promise((resolve) => {
      const replay = Readable.from([raw]);
      Object.assign(replay, { headers: req.headers, method: req.method, url: req.url });
      const captured = { statusCode: 200, headers: {}, writableEnded: false };
      captured.setHeader = (k, v) => (captured.headers[k.toLowerCase()] = String(v));
      captured.getHeader = (k) => captured.headers[k.toLowerCase()];
      captured.end = (body) => {
        captured.writableEnded = true;
        resolve({ status: captured.statusCode, headers: captured.headers, body: body ? String(body) : "" });
      };
      service.requestHandler(replay, captured);
    });

  async function token(req, res) {
    const raw = await readBody(req);
    const form = Object.fromEntries(new URLSearchParams(raw.toString("utf8")));
    const code = form.code;
    if (code) seen.set(code, { form, headers: req.headers });
    const arrangement = arranged.get(code) ?? {};
    if (arrangement.delay_ms) await new Promise((r) => setTimeout(r, arrangement.delay_ms));
    if (arrangement.status) return json(res, arrangement.status, arrangement.body ?? { error: "server_error" });
    const grant = authorized.get(code);
    if (form.grant_type !== "authorization_code") return json(res, 400, { error: "unsupported_grant_type" });
    if (form.client_id !== clientId || form.client_secret !== clientSecret) return json(res, 401, { error: "invalid_client" });
    if (!grant || grant.used) return json(res, 400, { error: "invalid_grant", error_description: "unknown or used code" });
    grant.used = true;
    if (form.redirect_uri !== grant.query.redirect_uri) return json(res, 400, { error: "invalid_grant", error_description: "redirect_uri mismatch" });
    if (grant.query.code_challenge && !form.code_verifier) return json(res, 400, { error: "invalid_grant", error_description: "code_verifier required" });
    const answer = await runMock(req, raw);
    if (answer.status !== 200) return json(res, 400, { error: "invalid_grant", error_description: answer.body });
    const body = JSON.parse(answer.body);
    if (arrangement.omit_id_token) delete body.id_token;
    else if (arrangement.sign) body.id_token = await resign(body.id_token, arrangement.sign);
    json(res, 200, body);
  }

  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, "http://mock");
      if (req.method === "POST" && url.pathname === "/__arrange") {
        const arrangement = JSON.parse((await readBody(req)).toString("utf8"));
        arranged.set(arrangement.code, arrangement);
        return json(res, 200, {});
      }
      if (req.method === "GET" && url.pathname === "/__seen") {
        const code = url.searchParams.get("code");
        return json(res, 200, { authorize: authorized.get(code)?.query ?? null, token: seen.get(code) ?? null });
      }
      if (req.method === "GET" && url.pathname === "/jwks") {
        return json(res, 200, { keys: [...issuer.keys.toJSON(), ecPublic] });
      }
      if (req.method === "GET" && url.pathname === "/authorize") {
        const query = url.searchParams;
        if (query.get("client_id") !== clientId) return json(res, 400, { error: "invalid_client" });
      }
      if (req.method === "POST" && url.pathname === "/token") return await token(req, res);
      service.requestHandler(req, res);
    } catch (error) {
      json(res, 500, { error: "mock_failure", detail: String(error) });
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = `http://127.0.0.1:${server.address().port}`;
  issuer.url = address;
  return [name, address];
}

const started = Object.fromEntries(await Promise.all(providers.map(start)));
console.log(JSON.stringify(started));
// Ends with its parent: the harness closes stdin when the run ends (or dies).
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
process.stdin.on("close", () => process.exit(0));
