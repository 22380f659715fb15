// The everyday calls of a clerk's app and a mini-program's back end, through the typed
// client, against a real jifen server (run by tests/client/test_typescript_client.py).
//
//   JIFEN_URL=http://127.0.0.1:8000 JIFEN_KEY=jfk_… node test/everyday.mjs
//
// A village with a charter in force: a record booked through it and corrected (更正), the
// history showing both; a raw award refused (use_records), in Chinese and in English; a
// holder's balances in one read; a clerk's sheet (CSV, Chinese headers) previewed, then
// recorded row by row; an OAuth2 client binding a user by phone; the client's secret
// rotated, the old and the new secret both signing in during the grace period.
//
// Exits 0 when every check holds and prints a JSON summary as its last line; prints the
// first failed assertion otherwise.
import assert from "node:assert/strict";

import { JifenProblem, createJifenClient } from "../dist/index.js";

const baseUrl = process.env.JIFEN_URL;
const apiKey = process.env.JIFEN_KEY;
assert.ok(baseUrl && apiKey, "JIFEN_URL and JIFEN_KEY are needed");

const CJK = /[\u4e00-\u9fff]/;

// A clerk's app: the platform administrator's key here (it may record every rule).
const clerk = createJifenClient({ baseUrl, apiKey });
const { api, unwrap } = clerk;

/**
 * The UTC calendar day `days` before today, as YYYY-MM-DD.
 * @param {number} days
 */
function daysAgo(days) {
  return new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10);
}

/**
 * The refusal a call ends in (it must end in one).
 * @param {Promise<unknown>} call
 * @param {string} what
 * @returns {Promise<JifenProblem>}
 */
async function refusal(call, what) {
  try {
    await call;
  } catch (error) {
    assert.ok(error instanceof JifenProblem, `${what}: ${error}`);
    return error;
  }
  assert.fail(`${what} must be refused`);
}

// --- a village with a charter in force --------------------------------------------------

const suffix = Date.now().toString(36);
const township = await unwrap(
  api.POST("/v1/townships", { body: { code: `ed${suffix}`, name: "日常镇" } }),
);
const village = await unwrap(
  api.POST("/v1/villages", { body: { township_id: township.id, code: "v", name: "日常村" } }),
);
const wang = await unwrap(
  api.POST("/v1/members", {
    body: { village_id: village.id, name: "王建国", phone: "13800138000" },
  }),
);
const li = await unwrap(api.POST("/v1/members", { body: { village_id: village.id, name: "李秀英" } }));

// Points held per member; labour scores 2 a hour, at most 16 a member a day.
/** @type {import("../dist/index.js").Schemas["CharterDocument"]} */
const charter = {
  title: "日常村积分制管理办法（试行）",
  effective_on: daysAgo(30),
  settings: { points_holder: "member" },
  rules: [
    {
      id: "labor_hour",
      category: "labor",
      label: "义务劳动",
      type: "per_unit",
      params: { unit: "hour", points_per_unit: "2", rounding: "half_up" },
      caps: [{ per: "member", period: "day", max_points: 16 }],
      recorders: ["village_clerk"],
    },
    {
      id: "meeting",
      category: "participation",
      label: "参加村民大会",
      type: "fixed",
      params: { points: 2 },
      recorders: ["village_clerk"],
    },
  ],
  category_caps: [],
};
const version = await unwrap(
  api.POST("/v1/villages/{village_id}/charter-versions", {
    params: { path: { village_id: village.id }, query: { publish: true } },
    body: charter,
  }),
);
assert.equal(version.status, "published");
const inForce = await unwrap(
  api.GET("/v1/villages/{village_id}/charter", { params: { path: { village_id: village.id } } }),
);
assert.equal(inForce.id, version.id);
assert.deepEqual(
  /** @type {{ id: string }[]} */ (inForce.document.rules).map((rule) => rule.id),
  ["labor_hour", "meeting"],
);

// --- a record through the charter, then corrected ---------------------------------------

// The clerk typed 3 hours: 3 h × 2 = 6 points.
const occurredAt = new Date(Date.now() - 60_000).toISOString();
const recorded = await unwrap(
  api.POST("/v1/villages/{village_id}/records", {
    params: { path: { village_id: village.id } },
    body: {
      rule_id: "labor_hour",
      member_id: wang.id,
      quantity: "3",
      occurred_at: occurredAt,
      note: "清理水渠淤泥",
    },
    headers: { "Idempotency-Key": `clerk-phone-${suffix}-1` },
  }),
);
assert.equal(recorded.status, "approved");
assert.equal(recorded.points, 6);
assert.equal(recorded.holder, "member");
assert.match(recorded.explanation, CJK);

// It was 2 hours: the correction reverses the 6 and books 2 h × 2 = 4.
const corrected = await unwrap(
  api.POST("/v1/records/{record_id}/amendments", {
    params: { path: { record_id: recorded.id } },
    body: { quantity: "2", reason: "误录为 3 小时，实为 2 小时" },
  }),
);
assert.equal(corrected.points, 4);
assert.equal(corrected.amends_record_id, recorded.id);
assert.equal(corrected.quantity, "2");
const original = await unwrap(
  api.GET("/v1/records/{record_id}", { params: { path: { record_id: recorded.id } } }),
);
assert.equal(original.status, "amended");
assert.equal(original.amended_by_record_id, corrected.id);
assert.equal(original.amend_reason, "误录为 3 小时，实为 2 小时");
assert.ok(original.reversal_entry_id, "the first record's entry is reversed");

// The history shows both: the correction counted (4), the corrected record not.
const history = await unwrap(
  api.GET("/v1/members/{member_id}/history", { params: { path: { member_id: wang.id } } }),
);
const shown = new Map(history.items.map((item) => [item.record_id, item]));
assert.equal(history.items.length, 2);
assert.equal(shown.get(recorded.id)?.status, "amended");
assert.equal(shown.get(recorded.id)?.is_counted, false);
assert.equal(shown.get(corrected.id)?.status, "approved");
assert.equal(shown.get(corrected.id)?.points, 4);
assert.equal(history.totals.points, 4);

// --- a raw award is refused: points reach residents through records -----------------------

const accounts = await unwrap(
  api.GET("/v1/accounts", { params: { query: { village_id: village.id, limit: 200 } } }),
);
const issuance = accounts.items.find((a) => a.kind === "issuance");
const wangAccount = accounts.items.find((a) => a.member_id === wang.id);
assert.ok(issuance && wangAccount, "the village's accounts are opened with it");
/** @param {import("../dist/index.js").JifenClient} client */
const rawAward = (client) =>
  client.unwrap(
    client.api.POST("/v1/entries", {
      body: {
        village_id: village.id,
        code: "labor_award",
        memo: "义务劳动 5 分",
        postings: [
          { account_id: issuance.id, amount: -5 },
          { account_id: wangAccount.id, amount: 5 },
        ],
      },
    }),
  );
// In Chinese when the caller asks for "zh": the title and the detail.
const chinese = createJifenClient({ baseUrl, apiKey, language: "zh" });
const refusedZh = await refusal(rawAward(chinese), "a raw labor_award under a charter");
assert.equal(refusedZh.status, 409);
assert.equal(refusedZh.code, "use_records");
assert.match(refusedZh.title, CJK);
assert.match(refusedZh.detail ?? "", CJK);
assert.ok(refusedZh.detail?.includes(`/v1/villages/${village.id}/records`), refusedZh.detail);
assert.equal(refusedZh.body.records_path, `/v1/villages/${village.id}/records`);
// The same refusal in English for a caller that asks for it.
const english = createJifenClient({ baseUrl, apiKey, language: "en" });
const refusedEn = await refusal(rawAward(english), "a raw labor_award under a charter");
assert.equal(refusedEn.code, "use_records");
assert.doesNotMatch(refusedEn.title, CJK);
assert.doesNotMatch(refusedEn.detail ?? "", CJK);

// --- a clerk's sheet: a dry run first, then recorded row by row ---------------------------

// Yesterday's inspection round (李秀英 and 王建国 in the village; 赵六 is not):
//   line 2: 李秀英 5 h in the morning: 5 × 2 = 10                      → booked, 10
//   line 3: 李秀英 5 h in the afternoon: 10, cut to the day's 16 − 10 = 6 → capped, 6
//   line 4: 王建国 at the villagers' meeting: 2                          → booked, 2
//   line 5: 赵六: nobody of that name                                    → refused
const day = daysAgo(1);
const sheet = [
  "规则,姓名,数量,日期,场次,备注",
  `labor_hour,李秀英,5,${day},上午,清理水渠`,
  `labor_hour,李秀英,5,${day},下午,`,
  `meeting,王建国,,${day},,`,
  `labor_hour,赵六,1,${day},,`,
].join("\n");
const sheetKey = `round-${suffix}`;

// The dry run from the file's bytes (a Buffer, as readFile gives them), the upload from a
// File, the retry from the text: the three shapes the helpers take.
const preview = await clerk.previewRecordSheet(village.id, Buffer.from(sheet, "utf8"), {
  sheetKey,
  filename: "巡查登记表.csv",
});
assert.equal(preview.dry_run, true);
assert.deepEqual(preview.counts, { booked: 2, capped: 1, refused: 1 });
assert.deepEqual(
  preview.rows.map((row) => [row.line, row.outcome, row.record?.points ?? null]),
  [
    [2, "booked", 10],
    [3, "capped", 6],
    [4, "booked", 2],
    [5, "refused", null],
  ],
);
assert.equal(preview.rows[3].problem?.code, "sheet_row_invalid");
assert.equal(preview.rows[0].idempotency_key, `${sheetKey}:2`);

// The dry run wrote nothing: 李秀英 has no points yet.
const liBefore = await unwrap(
  api.GET("/v1/members/{member_id}/balances", { params: { path: { member_id: li.id } } }),
);
assert.equal(liBefore.tracks[0].posted, 0);

const uploaded = await clerk.uploadRecordSheet(
  village.id,
  new File([sheet], "巡查登记表.csv", { type: "text/csv" }),
  { sheetKey },
);
assert.equal(uploaded.done, 3);
assert.equal(uploaded.refused, 1);
assert.deepEqual(
  uploaded.items.map((item) => [item.status, item.result?.outcome ?? item.problem?.code]),
  [
    [201, "booked"],
    [201, "capped"],
    [201, "booked"],
    [422, "sheet_row_invalid"],
  ],
);
assert.deepEqual(
  uploaded.items.map((item) => item.result?.record?.points ?? null),
  [10, 6, 2, null],
);
// The same sheet again (a retry after a timeout): the rows done are answered as before.
const retried = await clerk.uploadRecordSheet(village.id, sheet, { sheetKey });
assert.equal(retried.replayed, 3);
assert.equal(retried.done, 0);
assert.deepEqual(
  retried.items.map((item) => item.result?.record?.id ?? null),
  uploaded.items.map((item) => item.result?.record?.id ?? null),
);

// JSON rows from an app (each with its own key; the client sends no batch-wide one):
// 李秀英 at today's meeting, 2 points.
const rows = await unwrap(
  api.POST("/v1/villages/{village_id}/record-batches", {
    params: { path: { village_id: village.id } },
    body: {
      items: [
        {
          idempotency_key: `meeting-${suffix}-li`,
          rule_id: "meeting",
          member_id: li.id,
          occurred_at: occurredAt,
        },
      ],
    },
  }),
);
assert.equal(rows.done, 1);
assert.equal(rows.items[0].status, 201);
assert.equal(rows.items[0].result?.points, 2);

// --- a holder's balances in one read ------------------------------------------------------

// 李秀英: 10 + 6 from the sheet, 2 from the batch = 18. 王建国: the correction's 4 and the
// meeting's 2 = 6.
const liBalances = await unwrap(
  api.GET("/v1/members/{member_id}/balances", { params: { path: { member_id: li.id } } }),
);
assert.equal(liBalances.holder_kind, "member");
assert.equal(liBalances.tracks[0].track, "points");
assert.equal(liBalances.tracks[0].posted, 18);
assert.equal(liBalances.tracks[0].available, 18);
const wangBalances = await unwrap(
  api.GET("/v1/members/{member_id}/balances", { params: { path: { member_id: wang.id } } }),
);
assert.equal(wangBalances.holder_id, wang.id);
assert.equal(wangBalances.tracks[0].account_id, wangAccount.id);
assert.equal(wangBalances.tracks[0].posted, 6);
assert.equal(wangBalances.tracks[0].available, 6);
assert.equal(wangBalances.awaiting_review_count, 0);

// --- a mini-program's back end: binding by phone, then the secret rotated ------------------

const registered = await unwrap(
  api.POST("/v1/clients", {
    body: {
      township_id: township.id,
      name: "日常积分小程序",
      scopes: ["members:bind", "members:read", "balances:read"],
    },
  }),
);
const miniapp = createJifenClient({
  baseUrl,
  clientId: registered.client_id,
  clientSecret: registered.client_secret,
});
// The phone WeChat verified, as getPhoneNumber gives it: +86 and dashes are fine.
const binding = await miniapp.unwrap(
  miniapp.api.POST("/v1/bindings", {
    body: { user_ref: `oUpF8u_${suffix}`, phone: "+86 138-0013-8000" },
  }),
);
assert.equal(binding.member_id, wang.id);
assert.equal(binding.village_id, village.id);
// The bound balance: the charter's holder (the member) first, 6 points.
const bound = await miniapp.unwrap(
  miniapp.api.GET("/v1/bindings/{binding_id}/balances", {
    params: { path: { binding_id: binding.id } },
  }),
);
assert.equal(bound[0].holder, "member");
assert.equal(bound[0].is_default, true);
assert.equal(bound[0].posted, 6);
// A number on record for nobody is refused, in Chinese by default.
const unknownPhone = await refusal(
  miniapp.unwrap(
    miniapp.api.POST("/v1/bindings", {
      body: { user_ref: `oUpF8u_${suffix}_2`, phone: "13900000000" },
    }),
  ),
  "binding by a phone nobody has",
);
assert.equal(unknownPhone.code, "phone_not_matched");
assert.match(unknownPhone.title, CJK);

// The township rotates the client's secret with an hour's grace: until then the old and
// the new secret both get tokens, so back ends are switched one by one.
const beforeRotation = Date.now();
const rotated = await unwrap(
  api.POST("/v1/clients/{client_id}/secret-rotations", {
    params: { path: { client_id: registered.id } },
    body: { grace_seconds: 3600 },
  }),
);
assert.notEqual(rotated.client_secret, registered.client_secret);
assert.equal(rotated.client_id, registered.client_id);
const graceEnds = Date.parse(rotated.previous_secret_expires_at ?? "");
assert.ok(
  graceEnds >= beforeRotation + 3_590_000 && graceEnds <= Date.now() + 3_610_000,
  `the old secret runs an hour more: ${rotated.previous_secret_expires_at}`,
);
/** @param {string} clientSecret */
const signIn = (clientSecret) =>
  createJifenClient({ baseUrl, clientId: registered.client_id, clientSecret, language: "en" });
const oldSecret = signIn(registered.client_secret);
const newSecret = signIn(rotated.client_secret);
const meOld = await oldSecret.unwrap(oldSecret.api.GET("/v1/me"));
const meNew = await newSecret.unwrap(newSecret.api.GET("/v1/me"));
assert.equal(meOld.kind, "client");
assert.equal(meOld.principal_id, registered.id);
assert.equal(meNew.principal_id, registered.id);
// A leaked secret: rotating again with no grace stops both earlier secrets at once.
const again = await unwrap(
  api.POST("/v1/clients/{client_id}/secret-rotations", {
    params: { path: { client_id: registered.id } },
    body: { grace_seconds: 0 },
  }),
);
for (const secret of [registered.client_secret, rotated.client_secret]) {
  const stale = signIn(secret);
  const refused = await refusal(stale.unwrap(stale.api.GET("/v1/me")), "a stale secret");
  assert.equal(refused.status, 401);
}
const latest = signIn(again.client_secret);
assert.equal((await latest.unwrap(latest.api.GET("/v1/me"))).principal_id, registered.id);

console.log(
  JSON.stringify({
    ok: true,
    village: village.id,
    records: [recorded.id, corrected.id],
    sheet: uploaded.items.map((item) => item.result?.outcome ?? item.problem?.code),
    balances: { 王建国: wangBalances.tracks[0].posted, 李秀英: liBalances.tracks[0].posted },
    binding: binding.id,
  }),
);
