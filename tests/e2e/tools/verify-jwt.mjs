// A third-party verifier for the end-to-end suite: `jose` (npm) fetches the discovery
// document, then the key set at its jwks_uri, and verifies the token with it.
//   node verify-jwt.mjs DISCOVERY_URL TOKEN ISSUER AUDIENCE
// Prints {"payload": ..., "header": ...} on success; exits 1 with the reason otherwise.
import { createRemoteJWKSet, jwtVerify } from "jose";

const [discoveryUrl, token, issuer, audience] = process.argv.slice(2);
try {
  const discovery = await (await fetch(discoveryUrl)).json();
  const keys = createRemoteJWKSet(new URL(discovery.jwks_uri));
  const { payload, protectedHeader } = await jwtVerify(token, keys, { issuer, audience });
  console.log(JSON.stringify({ payload, header: protectedHeader }));
} catch (error) {
  console.error(`${error.code ?? "error"}: ${error.message}`);
  process.exit(1);
}
