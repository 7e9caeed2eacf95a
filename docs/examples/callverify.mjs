// Dialtone from Node.js (18 or later), standard library only.
//
// 1. Signs a callVerify request with X-AKSK and sends it.
// 2. Receives the call's first status push on a local HTTP server and verifies its signature,
//    as your app server would.
//
//     node callverify.mjs            # against http://127.0.0.1:8080 with the demo app
//
// Environment: DIALTONE_URL, DIALTONE_APP_KEY, DIALTONE_APP_SECRET, DIALTONE_DISPLAY,
// DIALTONE_CALLEE (the demo app's values by default). Exits non-zero on any failure.

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import assert from "node:assert/strict";

const env = process.env;
const URL_ = (env.DIALTONE_URL ?? "http://127.0.0.1:8080").replace(/\/$/, "");
const APP_KEY = env.DIALTONE_APP_KEY ?? "k3VdT9wQx2LpR7mN4sB8cY1fHj6Z";
const APP_SECRET = env.DIALTONE_APP_SECRET ?? "dT4xQ9pLm2vR8wYz";
const DISPLAY = env.DIALTONE_DISPLAY ?? "+862087654321";
const CALLEE = env.DIALTONE_CALLEE ?? "+8613900001234";

const hmacB64 = (secret, message) => createHmac("sha256", secret).update(message, "utf8").digest("base64");

/** The two headers of a signed request: PasswordDigest = Base64(HMAC-SHA256(secret, Nonce + Created)). */
export function requestHeaders(appKey, appSecret, nonce, created) {
  nonce ??= randomBytes(16).toString("hex").toUpperCase();
  created ??= new Date().toISOString().replace(/\.\d{3}Z$/, "Z"); // yyyy-MM-ddTHH:mm:ssZ, UTC
  const digest = hmacB64(appSecret, nonce + created);
  return {
    Authorization: 'AKSK realm="SDP",profile="UsernameToken",type="Appkey"',
    "X-AKSK": `UsernameToken Username="${appKey}",PasswordDigest="${digest}",Nonce="${nonce}",Created="${created}"`,
  };
}

/** The quoted attributes of an X-AKSK header, e.g. {Nonce: "…", Created: "…"}. */
function parseXAksk(value) {
  if (!value?.startsWith("UsernameToken ")) throw new Error(`not a UsernameToken header: ${value}`);
  return Object.fromEntries(
    [...value.matchAll(/(\w+)="([^"]*)"/g)].map(([, name, v]) => [name, v]),
  );
}

/** A receiver's check: Base64(HMAC-SHA256(secret, url + "\n" + Nonce + "\n" + Created)), with url
 *  exactly as registered (the one in statusUrl/feeUrl), compared in constant time. */
export function pushIsGenuine(xAksk, url, appSecret) {
  const a = parseXAksk(xAksk);
  const expected = Buffer.from(hmacB64(appSecret, `${url}\n${a.Nonce}\n${a.Created}`));
  const got = Buffer.from(a.PasswordDigest ?? "");
  return expected.length === got.length && timingSafeEqual(expected, got);
}

// The worked examples of docs/api.md: a wrong implementation fails here, before any network.
function knownAnswers() {
  const h = requestHeaders(APP_KEY, "dT4xQ9pLm2vR8wYz", "9F2C4A7E1B3D4F6A8C0E2B4D6F8A1C3E", "2026-03-14T10:15:30Z");
  assert.ok(h["X-AKSK"].includes('PasswordDigest="j07xD3Yp3Ox91zNkEUX6HCtY5jdi6FpdMt+BFVpZMBE="'), h["X-AKSK"]);
  const push =
    'UsernameToken Username="k3VdT9wQx2LpR7mN4sB8cY1fHj6Z",PasswordDigest="zItAyarTuuM71HjKiIg83mp/M83GBbOjYz1tDLeJTKE=",' +
    'Nonce="5E0B7C2A9D4F41B8A3C6E1F07B2D9A64",Created="2026-03-14T18:15:31Z"';
  assert.ok(pushIsGenuine(push, "http://127.0.0.1:9000/voice/status", "dT4xQ9pLm2vR8wYz"));
  assert.ok(!pushIsGenuine(push, "http://127.0.0.1:9000/voice/fee", "dT4xQ9pLm2vR8wYz"));
}

function fail(message) {
  console.error(message);
  process.exit(1);
}

async function main() {
  knownAnswers();
  let deliver;
  const firstPush = new Promise((resolve) => (deliver = resolve));
  const receiver = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      res.writeHead(200).end();
      deliver({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
    });
  });
  await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const statusUrl = `http://127.0.0.1:${receiver.address().port}/voice/status`;

  const body = {
    displayNbr: DISPLAY,
    calleeNbr: CALLEE,
    languageType: 2,
    preTone: "welcome.wav",
    verifyCode: "4815",
    times: 1,
    statusUrl: Buffer.from(statusUrl).toString("base64"),
  };
  const response = await fetch(`${URL_}/rest/httpsessions/callVerify/v1.0`, {
    method: "POST",
    headers: { "Content-Type": "application/json;charset=UTF-8", ...requestHeaders(APP_KEY, APP_SECRET) },
    body: JSON.stringify(body),
  });
  const answer = await response.json(); // errors are JSON too, with their HTTP status
  console.log("callVerify:", JSON.stringify(answer));
  if (answer.resultcode !== "0") fail(`callVerify refused: ${answer.resultcode} ${answer.resultdesc}`);

  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error("no status push within 10 s")), 10_000));
  const { headers, body: raw } = await Promise.race([firstPush, timeout]).catch((e) => fail(e.message));
  const push = JSON.parse(raw);
  console.log("push:", push.eventType, "for", push.statusInfo.sessionId);
  if (push.statusInfo.sessionId !== answer.sessionId) fail("the push is about another call");
  if (!pushIsGenuine(headers["x-aksk"], statusUrl, APP_SECRET)) fail("push signature does NOT verify");
  console.log("push signature verified");
  receiver.close();
  process.exit(0);
}

main().catch((e) => fail(e.stack ?? String(e)));
