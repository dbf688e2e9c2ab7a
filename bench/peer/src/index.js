// The reference peer of `make bench`: a minimal better-auth Worker on D1, as a JavaScript
// auth Worker would be written with better-auth's documented defaults (email and password,
// scrypt hashing, database sessions with a signed cookie). Only what a load test needs is
// changed: email verification off (sign-up then sign-in works), rate limits off,
// telemetry off. `GET /healthz` is the constant route, the cheapest thing a Worker answers.
import { betterAuth } from "better-auth";

let auth;

// One instance per isolate, made on the first request (the D1 binding comes with it).
function authOf(env) {
  auth ??= betterAuth({
    appName: "edge-auth bench peer",
    secret: env.BETTER_AUTH_SECRET,
    // Unset: better-auth takes the origin of each request (wrangler dev's port varies).
    baseURL: env.BETTER_AUTH_URL || undefined,
    // better-auth's own D1 support (its Kysely adapter's D1 dialect): the binding itself.
    database: env.DB,
    emailAndPassword: { enabled: true, requireEmailVerification: false },
    rateLimit: { enabled: false },
    telemetry: { enabled: false },
  });
  return auth;
}

const HEALTHZ = JSON.stringify({ status: "ok" });

export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    if (pathname === "/healthz") {
      return new Response(HEALTHZ, { headers: { "content-type": "application/json" } });
    }
    if (pathname.startsWith("/api/auth/")) {
      return authOf(env).handler(request);
    }
    return new Response(JSON.stringify({ error: "not_found" }), {
      status: 404,
      headers: { "content-type": "application/json" },
    });
  },
};
