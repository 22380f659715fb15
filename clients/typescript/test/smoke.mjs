// The TypeScript client against a real jifen server (run by tests/client/test_typescript_client.py).
//
//   JIFEN_URL=http://127.0.0.1:8000 JIFEN_KEY=jfk_… node test/smoke.mjs
//
// Exits 0 when every check holds; prints the first failed assertion otherwise.
import assert from "node:assert/strict";

import { JifenProblem, createJifenClient } from "../dist/index.js";

const baseUrl = process.env.JIFEN_URL;
const apiKey = process.env.JIFEN_KEY;
assert.ok(baseUrl && apiKey, "JIFEN_URL and JIFEN_KEY are needed");

const admin = createJifenClient({ baseUrl, apiKey });
const { api, unwrap } = admin;

// Who am I: the platform administrator's key.
const me = await unwrap(api.GET("/v1/me"));
assert.equal(me.kind, "user");

// A township, a village, a resident.
const suffix = Date.now().toString(36);
const township = await unwrap(
  api.POST("/v1/townships", { body: { code: `ts${suffix}`, name: "节点镇" } }),
);
const village = await unwrap(
  api.POST("/v1/villages", { body: { township_id: township.id, code: "v", name: "节点村" } }),
);
const member = await unwrap(
  api.POST("/v1/members", { body: { village_id: village.id, name: "李四" } }),
);
const accounts = await unwrap(
  api.GET("/v1/accounts", { params: { query: { village_id: village.id, limit: 200 } } }),
);
const issuance = accounts.items.find((a) => a.kind === "issuance");
const supermarket = accounts.items.find((a) => a.kind === "supermarket");
const mine = accounts.items.find((a) => a.member_id === member.id);
assert.ok(issuance && supermarket && mine, "the village's accounts are opened with it");

/**
 * @param {number} points
 * @param {Record<string, string>} headers
 */
const award = (points, headers = {}) =>
  api.POST("/v1/entries", {
    body: {
      village_id: village.id,
      code: "labor_award",
      memo: `义务劳动 ${points} 分`,
      postings: [
        { account_id: issuance.id, amount: -points },
        { account_id: mine.id, amount: points },
      ],
    },
    headers,
  });

// The caller's own key: a second send books nothing new and answers the first entry.
const first = await unwrap(award(6, { "Idempotency-Key": "ts-clerk-0001" }));
const again = await unwrap(award(6, { "Idempotency-Key": "ts-clerk-0001" }));
assert.equal(again.id, first.id);
assert.equal(first.idempotency_key, "ts-clerk-0001");

// The answer to the first attempt is lost on the way back: the client retries with the
// key it made, and the server books once.
/** @type {string[]} */
const keys = [];
let lost = false;
const lossy = createJifenClient({
  baseUrl,
  apiKey,
  fetch: async (url, init) => {
    const key = new Headers(init?.headers).get("Idempotency-Key");
    if (key) keys.push(key);
    const response = await fetch(url, init);
    if (String(url).endsWith("/v1/entries") && init?.method === "POST" && !lost) {
      lost = true;
      await response.arrayBuffer();
      throw new TypeError("fetch failed: the answer was lost");
    }
    return response;
  },
});
const second = await lossy.unwrap(
  lossy.api.POST("/v1/entries", {
    body: {
      village_id: village.id,
      code: "labor_award",
      memo: "义务劳动 4 分",
      postings: [
        { account_id: issuance.id, amount: -4 },
        { account_id: mine.id, amount: 4 },
      ],
    },
  }),
);
assert.equal(keys.length, 2);
assert.equal(keys[0], keys[1]);
assert.equal(second.idempotency_key, keys[0]);
const balance = await unwrap(
  api.GET("/v1/accounts/{account_id}/balance", { params: { path: { account_id: mine.id } } }),
);
assert.equal(balance.posted, 10);

// A refusal is a JifenProblem with the stable code, titled in Chinese by default...
try {
  await unwrap(
    api.POST("/v1/entries", {
      body: {
        village_id: village.id,
        code: "redemption",
        postings: [
          { account_id: mine.id, amount: -1000 },
          { account_id: supermarket.id, amount: 1000 },
        ],
      },
    }),
  );
  assert.fail("a redemption beyond the balance must be refused");
} catch (error) {
  assert.ok(error instanceof JifenProblem, String(error));
  assert.equal(error.code, "insufficient_points");
  assert.equal(error.status, 409);
  assert.match(error.title, /[\u4e00-\u9fff]/, "the title is Chinese");
}
// ...and in English when asked.
const english = createJifenClient({ baseUrl, apiKey, language: "en" });
try {
  await english.unwrap(
    english.api.GET("/v1/members/{member_id}", {
      params: { path: { member_id: "00000000-0000-0000-0000-000000000000" } },
    }),
  );
  assert.fail("an unknown member must be refused");
} catch (error) {
  assert.ok(error instanceof JifenProblem, String(error));
  assert.equal(error.status, 404);
  assert.equal(error.code, "not_found");
  assert.doesNotMatch(error.title, /[\u4e00-\u9fff]/, "the title is English");
}

// A mini-program's back end: an OAuth2 client of the township, client credentials.
const registered = await unwrap(
  api.POST("/v1/clients", {
    body: { township_id: township.id, name: "积分小程序", scopes: ["members:read", "balances:read"] },
  }),
);
const app = createJifenClient({
  baseUrl,
  clientId: registered.client_id,
  clientSecret: registered.client_secret,
});
const client = await app.unwrap(app.api.GET("/v1/me"));
assert.equal(client.kind, "client");
// The token is reused, not fetched again, for the next call.
const again2 = await app.unwrap(app.api.GET("/v1/me"));
assert.equal(again2.principal_id, client.principal_id);

console.log(
  JSON.stringify({ ok: true, township: township.id, entries: [first.id, second.id], balance: balance.posted }),
);
