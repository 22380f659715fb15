/**
 * A TypeScript client for the jifen points ledger API (/v1), for Node back ends
 * (WeChat cloud functions run Node 20).
 *
 * The paths, parameters and bodies are typed from jifen's OpenAPI document
 * (openapi/openapi.json, turned into src/schema.d.ts by openapi-typescript at build
 * time); requests go through openapi-fetch. This module adds what every caller of the
 * ledger needs and should not write again:
 *
 * - credentials: an API key (`jfk_…`), or an OAuth2 client (client credentials grant;
 *   the token is fetched on first use and renewed before it expires);
 * - an Idempotency-Key on every write that has none, kept across retries, so a retried
 *   booking is booked once (batches excepted: their items carry their own keys);
 * - bounded retries: a request that never reached the server, a 503 and a short 429 are
 *   retried (at most `retries` times, waiting what Retry-After asks, never longer than
 *   `retryWaitMaxMs`); nothing else is;
 * - errors: an answer that is not 2xx is thrown as a `JifenProblem` carrying the RFC 9457
 *   body (`code`, `title`, `detail`, `status`) in the language asked for;
 * - a clerk's sheet (CSV or XLSX) uploaded as multipart form data, which the generated
 *   types describe with the file as a string (`uploadRecordSheet`, `previewRecordSheet`).
 */

import createClient, { type Client } from "openapi-fetch";

import type { components, paths } from "./schema.js";

export type { components, paths };
export type Schemas = components["schemas"];

const WRITE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const RETRY_STATUSES = new Set([429, 503]);
// Batches take no Idempotency-Key header: each of their items carries its own key (a
// JSON item's `idempotency_key`, a sheet row's `<sheet_key>:<line>`), so a retried batch
// is safe without one.
const BATCH_PATH = /\/v1\/villages\/[^/]+\/(entry-batches|record-batches|record-sheets)$/;

/** An RFC 9457 problem from jifen: `code` is stable; `title` and `detail` are for people. */
export class JifenProblem extends Error {
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly detail: string | undefined;
  readonly body: Record<string, unknown>;
  /** Seconds the server asked the caller to wait (503, 429), if it did. */
  readonly retryAfterSeconds: number | undefined;

  constructor(status: number, body: Record<string, unknown>, retryAfterSeconds?: number) {
    const code = typeof body.code === "string" ? body.code : `http_${status}`;
    const title = typeof body.title === "string" ? body.title : `HTTP ${status}`;
    const detail = typeof body.detail === "string" ? body.detail : undefined;
    super(detail ? `${code}: ${detail}` : `${code}: ${title}`);
    this.name = "JifenProblem";
    this.status = status;
    this.code = code;
    this.title = title;
    this.detail = detail;
    this.body = body;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export interface JifenClientOptions {
  /** The server, e.g. "https://jifen.example.gov.cn" (no trailing /v1). */
  baseUrl: string;
  /** An API key (`jfk_…`) for a clerk's app, a till or a back office. */
  apiKey?: string;
  /** An OAuth2 client of a mini-program back end (client credentials grant). */
  clientId?: string;
  clientSecret?: string;
  /** Scopes to ask for with the client credentials, space-separated on the wire. */
  scopes?: string[];
  /** "zh-CN" (default) or "en": the language of problems' titles and details. */
  language?: string;
  /** Retries after a request that never reached the server, a 503 or a short 429. */
  retries?: number;
  /** The longest wait before a retry; a 429 asking for more is not retried. */
  retryWaitMaxMs?: number;
  /** Give up on one attempt after this long (AbortSignal.timeout). */
  timeoutMs?: number;
  /** The fetch to use (tests, proxies); the global fetch by default. */
  fetch?: typeof globalThis.fetch;
}

export interface JifenClient {
  /** The typed openapi-fetch client: `api.GET("/v1/me")`, `api.POST(…, { body })`. */
  api: Client<paths>;
  /**
   * The data of a typed call, or a thrown JifenProblem:
   * `const me = await jifen.unwrap(jifen.api.GET("/v1/me"))`.
   */
  unwrap<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T>;
  /** A fresh idempotency key, for a caller that keeps its own across restarts. */
  newIdempotencyKey(): string;
  /**
   * Record a clerk's sheet (CSV or XLSX, Chinese headers) row by row:
   * `POST /v1/villages/{village_id}/record-sheets`. Each row is answered on its own
   * (`items[i].status`, `result.outcome`, or `problem`); row n's idempotency key is
   * `<sheetKey>:<n>`, so uploading the same sheet again with the same key records nothing
   * twice. A refusal of the whole sheet (unreadable, too large) is thrown as a JifenProblem.
   */
  uploadRecordSheet(
    villageId: string,
    sheet: SheetContent,
    options: RecordSheetOptions & { sheetKey: string },
  ): Promise<Schemas["BatchRead_SheetRowRead_"]>;
  /**
   * The dry run of a sheet: `POST /v1/villages/{village_id}/record-sheet-previews`. Every
   * row's outcome (booked, capped, pending, duplicate, refused, replayed); nothing is
   * written. With the `sheetKey` the upload will use, rows it already recorded show
   * `replayed`.
   */
  previewRecordSheet(
    villageId: string,
    sheet: SheetContent,
    options?: Omit<RecordSheetOptions, "atomic">,
  ): Promise<Schemas["RecordPreviewRead"]>;
}

/** A sheet's content: a File or Blob, its bytes, or CSV text (sent as UTF-8). */
export type SheetContent = Blob | ArrayBuffer | Uint8Array | string;

export interface RecordSheetOptions {
  /** Names the sheet for safe retries (printable ASCII, e.g. "round-2026-11-26-east"). */
  sheetKey?: string;
  /** Record every row or none: the first refused row refuses the whole sheet. */
  atomic?: boolean;
  /** The file's name: `.xlsx` for a workbook; by default a File's own name, else sheet.csv. */
  filename?: string;
}

const XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

function sheetBlob(sheet: SheetContent, filename: string): Blob {
  if (sheet instanceof Blob) return sheet;
  const type = filename.toLowerCase().endsWith(".xlsx") ? XLSX_TYPE : "text/csv; charset=utf-8";
  // A copy of a Uint8Array (a Node Buffer, say) is backed by a plain ArrayBuffer.
  return new Blob([sheet instanceof Uint8Array ? new Uint8Array(sheet) : sheet], { type });
}

function sheetName(sheet: SheetContent, filename: string | undefined): string {
  if (filename) return filename;
  if (typeof File !== "undefined" && sheet instanceof File && sheet.name) return sheet.name;
  return "sheet.csv";
}

/** The multipart form of a sheet upload: the file, then the typed fields that are set. */
function sheetForm(
  sheet: SheetContent,
  filename: string,
  fields: Record<string, string | boolean | null | undefined>,
): FormData {
  const form = new FormData();
  form.append("file", sheetBlob(sheet, filename), filename);
  for (const [name, value] of Object.entries(fields)) {
    if (name !== "file" && value !== undefined && value !== null) form.append(name, String(value));
  }
  return form;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function retryAfterSeconds(response: Response): number | undefined {
  const header = response.headers.get("Retry-After");
  if (header === null) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  const when = Date.parse(header);
  return Number.isNaN(when) ? undefined : Math.max(0, (when - Date.now()) / 1000);
}

async function problemOf(response: Response): Promise<JifenProblem> {
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = await response.clone().json();
    if (parsed !== null && typeof parsed === "object") body = parsed as Record<string, unknown>;
  } catch {
    body = { title: response.statusText };
  }
  return new JifenProblem(response.status, body, retryAfterSeconds(response));
}

/** True when fetch failed before the server could have acted (nothing was sent). */
function neverSent(error: unknown): boolean {
  const cause = (error as { cause?: { code?: string } } | undefined)?.cause;
  return cause?.code === "ECONNREFUSED" || cause?.code === "ENOTFOUND";
}

export function createJifenClient(options: JifenClientOptions): JifenClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const retries = options.retries ?? 2;
  const retryWaitMaxMs = options.retryWaitMaxMs ?? 5_000;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const language = options.language ?? "zh-CN";
  const baseFetch = options.fetch ?? globalThis.fetch;
  if (!options.apiKey === !(options.clientId && options.clientSecret)) {
    throw new Error("give either apiKey, or clientId and clientSecret");
  }

  let token: { value: string; renewAt: number } | undefined;

  async function bearer(): Promise<string> {
    if (options.apiKey) return options.apiKey;
    if (token && Date.now() < token.renewAt) return token.value;
    const form = new URLSearchParams({ grant_type: "client_credentials" });
    if (options.scopes?.length) form.set("scope", options.scopes.join(" "));
    const basic = btoa(`${options.clientId}:${options.clientSecret}`);
    const response = await baseFetch(`${baseUrl}/oauth/token`, {
      method: "POST",
      headers: {
        Authorization: `Basic ${basic}`,
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept-Language": language,
      },
      body: form,
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!response.ok) throw await problemOf(response);
    const issued = (await response.json()) as { access_token: string; expires_in: number };
    // Renew a tenth of the lifetime early (at most a minute), and a second more for the
    // server's whole-second expiry.
    const margin = Math.min(issued.expires_in * 100, 60_000) + 1_000;
    token = { value: issued.access_token, renewAt: Date.now() + issued.expires_in * 1000 - margin };
    return token.value;
  }

  async function send(request: Request): Promise<Response> {
    const headers = new Headers(request.headers);
    headers.set("Authorization", `Bearer ${await bearer()}`);
    if (!headers.has("Accept-Language")) headers.set("Accept-Language", language);
    const isBatch = BATCH_PATH.test(new URL(request.url).pathname);
    if (WRITE_METHODS.has(request.method) && !isBatch && !headers.has("Idempotency-Key")) {
      headers.set("Idempotency-Key", crypto.randomUUID());
    }
    const body = request.body === null ? undefined : await request.arrayBuffer();
    for (let attempt = 0; ; attempt++) {
      let response: Response;
      try {
        response = await baseFetch(request.url, {
          method: request.method,
          headers,
          body,
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        // A write whose request may have arrived is retried only with its idempotency
        // key, which every write here carries; so every transport failure is retryable.
        if (attempt >= retries) throw error;
        await sleep(neverSent(error) ? 250 * (attempt + 1) : 500 * (attempt + 1));
        continue;
      }
      if (!RETRY_STATUSES.has(response.status) || attempt >= retries) return response;
      const waitMs = (retryAfterSeconds(response) ?? 1) * 1000;
      if (waitMs > retryWaitMaxMs) return response;
      await sleep(waitMs);
    }
  }

  const api = createClient<paths>({ baseUrl, fetch: send });

  async function unwrap<T>(
    call: Promise<{ data?: T; error?: unknown; response: Response }>,
  ): Promise<T> {
    const { data, error, response } = await call;
    if (response.ok) return data as T;
    // openapi-fetch has read the body already: the problem is `error`.
    const body =
      error !== null && typeof error === "object"
        ? (error as Record<string, unknown>)
        : { title: response.statusText };
    throw new JifenProblem(response.status, body, retryAfterSeconds(response));
  }

  return {
    api,
    unwrap,
    newIdempotencyKey: () => crypto.randomUUID(),
    // The generated types give the multipart body's file as a string: the typed fields
    // are checked against the schema, and the serializer sends the file itself.
    uploadRecordSheet(villageId, sheet, options) {
      const filename = sheetName(sheet, options.filename);
      return unwrap(
        api.POST("/v1/villages/{village_id}/record-sheets", {
          params: { path: { village_id: villageId } },
          body: { file: filename, sheet_key: options.sheetKey, atomic: options.atomic ?? false },
          bodySerializer: (fields) => sheetForm(sheet, filename, fields),
        }),
      );
    },
    previewRecordSheet(villageId, sheet, options = {}) {
      const filename = sheetName(sheet, options.filename);
      return unwrap(
        api.POST("/v1/villages/{village_id}/record-sheet-previews", {
          params: { path: { village_id: villageId } },
          body: { file: filename, sheet_key: options.sheetKey ?? null },
          bodySerializer: (fields) => sheetForm(sheet, filename, fields),
        }),
      );
    },
  };
}
