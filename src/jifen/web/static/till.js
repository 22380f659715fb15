/* The till (积分超市收银台): plain JavaScript, no build step, nothing from the internet.

   What it keeps in the browser (localStorage, per cashier and village, so that it survives
   a reload of the page):
   - the basket: the member at the till, the lines, and the basket's idempotency key. The
     key is made with the basket and sent with every submission of it, so a sale whose
     answer was lost is sent again with the same key and the server answers with the first
     sale: it is booked once, whatever happens to the connection. The key is dropped only
     when the outcome is known (the sale, or a refusal: then nothing was booked);
   - a refund under way, with its own key, the same way;
   - the last sale's receipt number.
   A submission that fails, or is not answered, stays "待确认" (pending) and is sent again
   when the browser says the network is back (the online event), on a timer that backs
   off, on the 立即重试 button, and when the page is loaded again.
*/
(function () {
  "use strict";

  const root = document.getElementById("till");
  if (!root) return;

  const config = {
    base: root.dataset.root + "/till/villages/" + root.dataset.villageId,
    root: root.dataset.root,
    villageId: root.dataset.villageId,
    userId: root.dataset.userId,
    csrf: root.dataset.csrf,
    zone: root.dataset.zone || "Asia/Shanghai",
    canRefund: root.dataset.canRefund === "true",
  };
  const STORE_PREFIX = "jifen.till.v1.";
  const STORE = STORE_PREFIX + config.userId + "." + config.villageId;
  const FETCH_TIMEOUT_MS = 20000;
  const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 15000, 30000];
  const QUANTITY_MAX = 9999;
  const BASKET_LINES_MAX = 30;

  const $ = (id) => document.getElementById(id);

  // --- state, kept in localStorage -------------------------------------------------------

  function newKey() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    // crypto.randomUUID needs a secure context (https or localhost); a till served over
    // plain http on the village's network still has getRandomValues.
    const bytes = window.crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }

  function newBasket(member) {
    return { key: newKey(), member: member || null, lines: [], status: "editing" };
  }

  function blank() {
    return { basket: newBasket(null), refund: null, last: null };
  }

  function load() {
    try {
      const stored = JSON.parse(window.localStorage.getItem(STORE) || "null");
      if (stored && stored.basket && Array.isArray(stored.basket.lines) && stored.basket.key) {
        return stored;
      }
    } catch (error) {
      // A damaged entry: start afresh rather than fail.
    }
    return blank();
  }

  let state = load();

  function save() {
    try {
      window.localStorage.setItem(STORE, JSON.stringify(state));
    } catch (error) {
      notice("无法在本机保存购物篮（浏览器存储已满或被禁用），断网时请勿刷新页面。");
    }
  }

  // --- the server ------------------------------------------------------------------------

  async function call(method, path, body, key) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") {
      headers["Content-Type"] = "application/json";
      headers["X-CSRF-Token"] = config.csrf;
    }
    if (key) headers["Idempotency-Key"] = key;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), FETCH_TIMEOUT_MS);
    try {
      const response = await fetch(config.base + path, {
        method: method,
        headers: headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
        signal: controller.signal,
      });
      let data = null;
      try {
        data = await response.json();
      } catch (error) {
        data = null;
      }
      return {
        ok: response.ok,
        status: response.status,
        body: data,
        replayed: response.headers.get("Idempotent-Replayed") === "true",
      };
    } catch (error) {
      // No answer: offline, the connection dropped, or the wait ran out.
      return { ok: false, status: 0, body: null, replayed: false };
    } finally {
      clearTimeout(timer);
    }
  }

  // What became of a write: done; refused (the server says so: nothing was booked); or
  // unknown (no answer, a server or gateway error, a signed-out session): send it again.
  function verdict(answer) {
    if (answer.ok) return "done";
    const code = answer.body && answer.body.code;
    if (answer.status === 401 || code === "csrf_failed" || code === "origin_refused") return "signin";
    if (answer.status === 0 || answer.status >= 500 || answer.status === 408 || answer.status === 429) {
      return "unknown";
    }
    return code ? "refused" : "unknown";
  }

  function isSignedOut(answer) {
    const code = answer.body && answer.body.code;
    return answer.status === 401 || code === "csrf_failed";
  }

  // --- words -----------------------------------------------------------------------------

  function goodsName(goodsId) {
    const line = state.basket.lines.find((l) => l.goods_id === goodsId);
    if (line) return line.name;
    const goods = catalog.find((g) => g.id === goodsId);
    return goods ? goods.name : "该商品";
  }

  function goodsUnit(goodsId) {
    const line = state.basket.lines.find((l) => l.goods_id === goodsId);
    if (line) return line.unit;
    const goods = catalog.find((g) => g.id === goodsId);
    return goods ? goods.unit : "件";
  }

  function describe(problem, receipt) {
    const p = problem || {};
    switch (p.code) {
      case "insufficient_stock": {
        const unit = goodsUnit(p.goods_id);
        return (p.goods_name || goodsName(p.goods_id)) + "库存不足：货架上只剩 " + p.available_quantity + unit +
          "，本单要 " + p.requested_quantity + unit + "。未扣积分，请调整数量后再兑换。";
      }
      case "insufficient_points":
        return "积分不足：可用 " + p.balance_points + " 分，本单（" + basketNames() + "）需要 " +
          p.requested_points + " 分。未扣积分。";
      case "balance_in_debt":
        return "积分为负（" + p.balance_points + " 分，有扣分欠账），挣回之前不能兑换。未扣积分。";
      case "price_changed":
        return "价格已变动：本单按现价合计 " + p.total_points + " 分（刚才显示 " + p.expected_total_points +
          " 分）。已按现价更新，请核对后再点兑换。未扣积分。";
      case "goods_inactive":
        return (p.goods_name || goodsName(p.goods_id)) + "已下架，不能兑换，请从购物篮移除。未扣积分。";
      case "goods_not_in_catalog":
        return goodsName(p.goods_id) + "不在本村商品目录中，请从购物篮移除。未扣积分。";
      case "member_inactive":
        return "该村民已不在本村名册中，不能兑换。";
      case "no_points_account":
        return "该村民（户）还没有积分账户，请联系村干部。";
      case "not_found":
        return "找不到：没有这个积分卡、手机号或编号的村民，也没有这个条码的商品。";
      case "card_invalid":
        return "无法识别这张积分卡（不是本系统的卡，或扫描有误），请重扫或输入手机号。";
      case "card_other_village":
        return "这是其他村的积分卡，本村不能使用。";
      case "card_revoked":
        return "这张积分卡已挂失作废，请使用补办的新卡。";
      case "sale_not_found":
        return "找不到这张小票：本村积分超市没有这个小票号。";
      case "refund_exceeds_sale": {
        if (p.goods_id && receipt) {
          const line = receipt.lines.find((l) => l.goods_id === p.goods_id);
          if (line) {
            return line.goods_name + "最多还能退 " + p.refundable_quantity + line.unit + "，本次要退 " +
              p.requested_quantity + line.unit + "。未退款。";
          }
        }
        return "这张小票已经全部退货，或要退的数量超过了可退数量。未退款。";
      }
      case "basket_invalid":
        return "购物篮有误：" + (p.detail || "");
      case "forbidden":
        return "您没有这项操作的权限，请联系村干部。";
      case "validation_failed":
        return "提交的内容有误，请检查后重试。";
      case "idempotency_key_reused":
        return "这笔操作的编号已被另一笔使用，未入账，请重新操作。";
      default:
        return (p.title || "操作未完成") + "。";
    }
  }

  function basketNames() {
    return state.basket.lines.map((l) => l.name + "×" + l.quantity).join("、");
  }

  const dateFormat = new Intl.DateTimeFormat("zh-CN", {
    timeZone: config.zone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hour12: false,
  });
  const timeFormat = new Intl.DateTimeFormat("zh-CN", {
    timeZone: config.zone,
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
  });

  function instant(text) {
    // The server's times are UTC; one without a zone is UTC too.
    return new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : text + "Z");
  }

  // --- small DOM helpers -----------------------------------------------------------------

  function el(tag, attributes, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = String(value);
      else if (name === "className") node.className = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children || []) {
      if (child !== null && child !== undefined) {
        node.append(child instanceof Node ? child : document.createTextNode(String(child)));
      }
    }
    return node;
  }

  function show(node, text) {
    if (text) {
      node.textContent = text;
      node.hidden = false;
    } else {
      node.textContent = "";
      node.hidden = true;
    }
  }

  function notice(text) {
    show($("notice"), text);
  }

  function signInNotice() {
    const box = $("notice");
    box.textContent = "";
    box.append(
      "登录已过期，请重新登录。未确认的兑换和退货保存在本机，重新登录后会自动再次提交（同一笔，不会重复扣分）。 ",
      el("a", { href: config.root + "/login?next=" + encodeURIComponent(config.root + "/till"), text: "重新登录" })
    );
    box.hidden = false;
  }

  function focusScan() {
    const active = document.activeElement;
    const busy = active && active !== document.body && active.matches("input, textarea, select");
    if (!busy && !$("panel-sale").hidden) $("scan").focus();
  }

  // --- panels ----------------------------------------------------------------------------

  const panels = ["sale", "receipt", "day", "stock"];

  function openPanel(name) {
    for (const panel of panels) $("panel-" + panel).hidden = panel !== name;
    for (const tab of document.querySelectorAll(".tab")) {
      tab.setAttribute("aria-pressed", tab.dataset.panel === name ? "true" : "false");
    }
    if (name === "day") loadDay();
    if (name === "stock") loadStock();
    if (name === "sale") focusScan();
  }

  // --- the catalog -----------------------------------------------------------------------

  let catalog = [];

  async function loadCatalog() {
    const answer = await call("GET", "/goods");
    if (answer.ok && Array.isArray(answer.body)) {
      catalog = answer.body;
      renderCatalog();
      renderBasket();
    } else if (isSignedOut(answer)) {
      signInNotice();
    }
  }

  function renderCatalog() {
    const grid = $("catalog");
    grid.textContent = "";
    const selling = catalog.filter((g) => g.active);
    const editing = state.basket.status === "editing";
    for (const goods of selling) {
      const out = goods.stock <= 0;
      grid.append(
        el(
          "button",
          {
            type: "button",
            className: "goods",
            "data-goods-id": goods.id,
            "aria-label": goods.name + " " + goods.price_points + "分",
            disabled: out || !editing,
            onclick: () => addGoods(goods),
          },
          [
            el("span", { className: "goods-name", text: goods.name }),
            el("span", { className: "goods-price", text: goods.price_points + " 分/" + goods.unit }),
            el("span", { className: "goods-stock", text: out ? "缺货" : "库存 " + goods.stock + goods.unit }),
          ]
        )
      );
    }
    $("catalog-empty").hidden = selling.length > 0;
  }

  function addGoods(goods) {
    const basket = state.basket;
    if (basket.status !== "editing") {
      say("上一笔兑换待确认，确认后才能继续。");
      return;
    }
    if (!goods.active) {
      say(goods.name + "已下架，不能兑换。");
      return;
    }
    const line = basket.lines.find((l) => l.goods_id === goods.id);
    if (line) {
      line.quantity = Math.min(line.quantity + 1, QUANTITY_MAX);
    } else {
      if (basket.lines.length >= BASKET_LINES_MAX) {
        say("一单最多 " + BASKET_LINES_MAX + " 种商品，请分两单兑换。");
        return;
      }
      basket.lines.push({
        goods_id: goods.id,
        name: goods.name,
        unit: goods.unit,
        unit_points: goods.price_points,
        quantity: 1,
      });
    }
    say("");
    save();
    renderBasket();
  }

  function setQuantity(goodsId, quantity) {
    const basket = state.basket;
    if (basket.status !== "editing") return;
    const line = basket.lines.find((l) => l.goods_id === goodsId);
    if (!line) return;
    if (!Number.isFinite(quantity) || quantity < 1) {
      basket.lines = basket.lines.filter((l) => l.goods_id !== goodsId);
    } else {
      line.quantity = Math.min(Math.floor(quantity), QUANTITY_MAX);
    }
    save();
    renderBasket();
  }

  // --- the member ------------------------------------------------------------------------

  let showFullName = false;

  async function lookup(params, quiet) {
    if (state.basket.status !== "editing") {
      if (!quiet) say("上一笔兑换待确认，确认后才能换人。");
      return;
    }
    const answer = await call("GET", "/member?" + new URLSearchParams(params).toString());
    if (answer.ok) {
      const member = answer.body;
      const before = state.basket.member;
      state.basket.member = member;
      if (!before || before.member_id !== member.member_id) showFullName = false;
      $("candidates").hidden = true;
      show($("scan-message"), null);
      save();
      renderMember();
      renderBasket();
      return;
    }
    if (quiet) return;
    const problem = answer.body || {};
    if (problem.code === "member_ambiguous" && Array.isArray(problem.candidates)) {
      chooseAmong(problem.candidates);
    } else if (isSignedOut(answer)) {
      signInNotice();
    } else if (answer.status === 0) {
      show($("scan-message"), "网络不通，查不到村民。请检查网络后重试。");
    } else {
      show($("scan-message"), describe(problem));
    }
  }

  function chooseAmong(candidates) {
    const list = $("candidate-list");
    list.textContent = "";
    for (const candidate of candidates) {
      list.append(
        el("li", {}, [
          el("button", {
            type: "button",
            className: "secondary",
            text: candidate.masked_name,
            onclick: () => lookup({ member_id: candidate.member_id }),
          }),
        ])
      );
    }
    $("candidates").hidden = false;
  }

  function renderMember() {
    const member = state.basket.member;
    $("member").hidden = !member;
    $("member-empty").hidden = !!member;
    if (!member) return;
    $("member-name").textContent = showFullName ? member.name : member.masked_name;
    const toggle = $("name-toggle");
    toggle.textContent = showFullName ? "隐藏姓名" : "显示姓名";
    toggle.setAttribute("aria-pressed", showFullName ? "true" : "false");
    $("member-household").textContent = member.household_name || "—";
    $("points-label").textContent = member.holder_kind === "household" ? "本户可用积分" : "可用积分";
    $("member-points").textContent = member.available_points + " 分";
    show($("member-debt"), member.in_debt ? "积分为负（有扣分欠账），挣回之前不能兑换。" : null);
    $("member-clear").disabled = state.basket.status !== "editing";
  }

  // --- the code the scanner (or the cashier) typed ----------------------------------------

  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

  function handleCode(raw) {
    const code = String(raw || "").trim();
    if (!code) return;
    show($("scan-message"), null);
    const goods = catalog.find((g) => g.barcode && g.barcode === code);
    if (goods) {
      addGoods(goods);
    } else if (/^jfc1-/i.test(code) || /^jfc_/i.test(code)) {
      lookup({ card_token: code });
    } else if (UUID.test(code)) {
      lookup({ member_id: code });
    } else if (/^[0-9 +-]{4,32}$/.test(code)) {
      lookup({ phone: code });
    } else {
      lookup({ card_token: code });
    }
  }

  // --- the basket ------------------------------------------------------------------------

  function total(basket) {
    return basket.lines.reduce((sum, l) => sum + l.unit_points * l.quantity, 0);
  }

  function say(text) {
    show($("message"), text);
  }

  // Shortages the till can see already (the server decides in the end: stock and points
  // may have moved since they were read).
  function shortages() {
    const found = [];
    for (const line of state.basket.lines) {
      const goods = catalog.find((g) => g.id === line.goods_id);
      if (goods && goods.stock < line.quantity) {
        found.push(line.name + "库存只有 " + Math.max(goods.stock, 0) + line.unit);
      }
      if (goods && !goods.active) found.push(line.name + "已下架");
    }
    const member = state.basket.member;
    if (member && member.available_points < total(state.basket)) {
      found.push("积分不足：可用 " + member.available_points + " 分");
    }
    return found;
  }

  function renderBasket() {
    const basket = state.basket;
    const editing = basket.status === "editing";
    const list = $("basket");
    list.textContent = "";
    for (const line of basket.lines) {
      const goods = catalog.find((g) => g.id === line.goods_id);
      const short = goods && goods.stock < line.quantity;
      const input = el("input", {
        type: "number",
        inputmode: "numeric",
        min: "1",
        max: String(QUANTITY_MAX),
        value: String(line.quantity),
        "aria-label": line.name + " 数量",
        disabled: !editing,
      });
      input.addEventListener("change", () => setQuantity(line.goods_id, parseInt(input.value, 10)));
      list.append(
        el("li", { "data-goods-id": line.goods_id }, [
          el("div", {}, [
            el("div", { className: "line-name", text: line.name }),
            el("div", { className: "line-price", text: line.unit_points + " 分/" + line.unit }),
          ]),
          el("div", { className: "line-points", text: line.unit_points * line.quantity + " 分" }),
          el("div", { className: "line-qty" }, [
            el("button", {
              type: "button",
              className: "secondary",
              "aria-label": "减少 " + line.name,
              text: "−",
              disabled: !editing,
              onclick: () => setQuantity(line.goods_id, line.quantity - 1),
            }),
            input,
            el("button", {
              type: "button",
              className: "secondary",
              "aria-label": "增加 " + line.name,
              text: "+",
              disabled: !editing,
              onclick: () => setQuantity(line.goods_id, line.quantity + 1),
            }),
            el("button", {
              type: "button",
              className: "secondary small remove",
              "aria-label": "移除 " + line.name,
              text: "移除",
              disabled: !editing,
              onclick: () => setQuantity(line.goods_id, 0),
            }),
          ]),
          short ? el("div", { className: "line-short", text: "库存只有 " + Math.max(goods.stock, 0) + line.unit }) : null,
        ])
      );
    }
    $("basket-empty").hidden = basket.lines.length > 0;
    const sum = total(basket);
    $("total").textContent = sum + " 分";
    const member = basket.member;
    const remaining = $("remaining");
    if (member) {
      const left = member.available_points - sum;
      remaining.textContent = left + " 分";
      remaining.classList.toggle("short", left < 0);
    } else {
      remaining.textContent = "—";
      remaining.classList.remove("short");
    }
    const problems = editing ? shortages() : [];
    show($("basket-warn"), problems.length ? "不能兑换：" + problems.join("；") + "。" : null);
    const ready = editing && member && !member.in_debt && basket.lines.length > 0 && problems.length === 0;
    $("redeem").disabled = !ready;
    $("redeem").textContent = editing ? "兑换" : "提交中…";
    $("basket-clear").disabled = !editing || (basket.lines.length === 0 && !member);
    renderPending();
    renderMember();
    renderCatalogState();
  }

  function renderCatalogState() {
    const editing = state.basket.status === "editing";
    for (const button of $("catalog").querySelectorAll("button.goods")) {
      const goods = catalog.find((g) => g.id === button.dataset.goodsId);
      button.disabled = !editing || !goods || goods.stock <= 0;
    }
    $("scan-submit").disabled = !editing;
  }

  function renderLast() {
    const last = state.last;
    const box = $("last-sale");
    box.textContent = "";
    if (!last) {
      box.hidden = true;
      return;
    }
    box.append(
      "上一笔：小票 " + last.receipt_number + "，" + last.total_points + " 分，已兑换。 ",
      el("button", {
        type: "button",
        className: "secondary small",
        text: "查看小票",
        onclick: () => openReceipt(last.receipt_number),
      })
    );
    box.hidden = false;
  }

  // --- redeeming: submit, and submit again until the outcome is known ----------------------

  let saleInFlight = false;
  let refundInFlight = false;
  let retryTimer = null;
  let retryIndex = 0;

  function redeem() {
    const basket = state.basket;
    if (basket.status !== "editing" || !basket.member || basket.lines.length === 0) return;
    basket.status = "pending";
    basket.expected_total_points = total(basket);
    basket.attempts = 0;
    basket.submitted_at = new Date().toISOString();
    save();
    say("");
    renderBasket();
    submitSale();
  }

  async function submitSale() {
    const basket = state.basket;
    if (basket.status !== "pending" || saleInFlight) return;
    saleInFlight = true;
    basket.attempts = (basket.attempts || 0) + 1;
    save();
    renderPending("正在提交…");
    const answer = await call(
      "POST",
      "/sales",
      {
        member_id: basket.member.member_id,
        lines: basket.lines.map((l) => ({ goods_id: l.goods_id, quantity: l.quantity })),
        expected_total_points: basket.expected_total_points,
      },
      basket.key
    );
    saleInFlight = false;
    // Another tab may have settled it meanwhile (its change arrives by the storage
    // event): only this basket's answer counts.
    if (state.basket.key !== basket.key || state.basket.status !== "pending") {
      renderAll();
      return;
    }
    const outcome = verdict(answer);
    if (outcome === "done") {
      sold(answer.body, answer.replayed);
    } else if (outcome === "refused") {
      refused(answer.body);
    } else {
      if (outcome === "signin") signInNotice();
      renderPending(outcome === "signin" ? "登录已过期：重新登录后自动再次提交。" : null);
      retryLater();
    }
  }

  function sold(receipt, replayed) {
    retryIndex = 0;
    state.basket = newBasket(null);
    state.last = { receipt_number: receipt.receipt_number, total_points: receipt.total_points };
    save();
    showFullName = false;
    renderAll();
    showReceipt(
      receipt,
      replayed
        ? "兑换成功：小票 " + receipt.receipt_number + "（网络中断后已确认，只入账一次）"
        : "兑换成功：小票 " + receipt.receipt_number
    );
    loadCatalog();
  }

  function refused(problem) {
    const basket = state.basket;
    basket.status = "editing";
    // Nothing was booked with the old key; an edited basket is another request.
    basket.key = newKey();
    delete basket.attempts;
    delete basket.expected_total_points;
    delete basket.submitted_at;
    if (problem && problem.code === "price_changed" && Array.isArray(problem.lines)) {
      for (const priced of problem.lines) {
        const line = basket.lines.find((l) => l.goods_id === priced.goods_id);
        if (line) line.unit_points = priced.unit_points;
      }
    }
    save();
    renderAll();
    say(describe(problem));
    loadCatalog();
    if (basket.member) lookup({ member_id: basket.member.member_id }, true);
  }

  function renderPending(text) {
    const basket = state.basket;
    const box = $("pending");
    if (basket.status !== "pending") {
      box.hidden = true;
      return;
    }
    const attempts = basket.attempts || 0;
    const words =
      text ||
      (attempts > 0
        ? "网络未确认这笔兑换（已提交 " + attempts + " 次）。网络恢复后自动用同一编号重新提交，不会重复扣分。请勿交货，等待确认。"
        : "正在提交…");
    $("pending-text").textContent = words;
    box.hidden = false;
  }

  function retryLater() {
    if (retryTimer !== null) return;
    const delay = RETRY_DELAYS_MS[Math.min(retryIndex, RETRY_DELAYS_MS.length - 1)];
    retryIndex += 1;
    retryTimer = setTimeout(() => {
      retryTimer = null;
      submitAll();
    }, delay);
  }

  function submitAll() {
    if (state.basket.status === "pending") submitSale();
    if (state.refund) submitRefund();
  }

  function retryNow() {
    if (retryTimer !== null) {
      clearTimeout(retryTimer);
      retryTimer = null;
    }
    retryIndex = 0;
    submitAll();
  }

  // --- receipts --------------------------------------------------------------------------

  let receiptShown = null;

  function showReceipt(receipt, status) {
    receiptShown = receipt;
    renderReceipt(receipt);
    show($("receipt-status"), status || null);
    renderRefundForm(receipt);
    openPanel("receipt");
  }

  function renderReceipt(r) {
    const box = $("receipt");
    box.textContent = "";
    const household = r.holder_kind === "household";
    const meta = el("dl", { className: "receipt-meta" }, [
      el("dt", { text: "小票号" }),
      el("dd", { id: "receipt-no", text: r.receipt_number }),
      el("dt", { text: "时间" }),
      el("dd", { id: "receipt-time", text: dateFormat.format(instant(r.created_at)) }),
      el("dt", { text: "收银员" }),
      el("dd", { id: "receipt-cashier", text: r.cashier_name }),
      el("dt", { text: "村民" }),
      el("dd", { id: "receipt-member", text: r.member_masked_name }),
    ]);
    if (r.household_name) {
      meta.append(el("dt", { text: "户" }), el("dd", { text: r.household_name }));
    }
    const rows = r.lines.map((line) =>
      el("tr", {}, [
        el("td", {}, [
          line.goods_name,
          line.refunded_quantity
            ? el("span", { className: "refunded", text: "（已退 " + line.refunded_quantity + line.unit + "）" })
            : null,
        ]),
        el("td", { text: line.quantity + line.unit }),
        el("td", { text: line.unit_points }),
        el("td", { text: line.points }),
      ])
    );
    const totals = el("dl", { className: "receipt-total" }, [
      el("dt", { text: "合计" }),
      el("dd", { id: "receipt-total", text: r.total_points + " 分" }),
      el("dt", { text: household ? "兑换后本户剩余" : "兑换后剩余" }),
      el("dd", { id: "receipt-left", text: r.balance_after + " 分" }),
    ]);
    if (r.refunded_points) {
      totals.append(el("dt", { text: "已退积分" }), el("dd", { id: "receipt-refunded", text: r.refunded_points + " 分" }));
    }
    box.append(
      el("h3", { text: r.village_name + " 积分超市" }),
      el("p", { className: "receipt-kind", text: "兑换小票" }),
      meta,
      el("table", {}, [
        el("thead", {}, [el("tr", {}, [el("th", { text: "商品" }), el("th", { text: "数量" }), el("th", { text: "单价" }), el("th", { text: "积分" })])]),
        el("tbody", {}, rows),
      ]),
      totals
    );
    if (r.refunds && r.refunds.length) {
      box.append(
        el(
          "div",
          { className: "receipt-refunds", id: "receipt-refunds" },
          r.refunds.map((refund) =>
            el("p", {
              text:
                "退货 凭证 " + refund.seq + " · " + dateFormat.format(instant(refund.created_at)) +
                " · 退回 " + refund.points + " 分 · 校验码 " + refund.entry_hash.slice(0, 12),
            })
          )
        )
      );
    }
    box.append(
      el("p", { className: "verify" }, [
        "记账凭证 ",
        el("span", { id: "receipt-seq", text: r.receipt_number }),
        " · 校验码 ",
        el("code", { id: "receipt-hash", text: r.hash_prefix }),
        el("br"),
        "可按凭证号和校验码到本村账本公开核验中核对。",
      ])
    );
  }

  async function openReceipt(number) {
    const answer = await call("GET", "/sales/" + encodeURIComponent(number));
    if (answer.ok) {
      showReceipt(answer.body, null);
      return null;
    }
    if (isSignedOut(answer)) {
      signInNotice();
      return null;
    }
    return answer.status === 0 ? "网络不通，打不开小票。" : describe(answer.body);
  }

  // --- refunds ---------------------------------------------------------------------------

  function renderRefundForm(receipt) {
    const section = $("refund");
    if (!section) return;
    section.hidden = false;
    const lines = $("refund-lines");
    lines.textContent = "";
    let left = 0;
    for (const line of receipt.lines) {
      const refundable = line.quantity - line.refunded_quantity;
      left += refundable;
      if (refundable <= 0) continue;
      const id = "refund-qty-" + line.position;
      lines.append(
        el("label", { for: id }, [
          line.goods_name + " 退货数量（最多 " + refundable + line.unit + "）",
          el("input", {
            id: id,
            type: "number",
            inputmode: "numeric",
            min: "0",
            max: String(refundable),
            value: "0",
            "data-position": line.position,
          }),
        ])
      );
    }
    const pending = state.refund && state.refund.receipt_number === receipt.receipt_number;
    const done = left === 0;
    $("refund-done").hidden = !done;
    $("refund-lines-submit").disabled = done || !!state.refund;
    $("refund-all").disabled = done || !!state.refund;
    $("refund-lines-submit").hidden = done;
    $("refund-all").hidden = done;
    if (!pending) {
      $("refund-pending").hidden = true;
    } else {
      renderRefundPending();
    }
  }

  function startRefund(whole) {
    const receipt = receiptShown;
    if (!receipt || state.refund) return;
    let lines = null;
    if (!whole) {
      lines = [];
      for (const input of $("refund-lines").querySelectorAll("input")) {
        const quantity = parseInt(input.value, 10);
        if (quantity > 0) lines.push({ position: parseInt(input.dataset.position, 10), quantity: quantity });
      }
      if (lines.length === 0) {
        show($("refund-message"), "请先填写要退的数量。");
        return;
      }
    }
    state.refund = {
      key: newKey(),
      receipt_number: receipt.receipt_number,
      lines: lines,
      reason: $("refund-reason").value.trim(),
      attempts: 0,
    };
    save();
    show($("refund-message"), null);
    renderRefundForm(receipt);
    submitRefund();
  }

  async function submitRefund() {
    const refund = state.refund;
    if (!refund || refundInFlight) return;
    refundInFlight = true;
    refund.attempts += 1;
    save();
    renderRefundPending("正在提交…");
    const body = { reason: refund.reason };
    if (refund.lines) body.lines = refund.lines;
    const answer = await call("POST", "/sales/" + refund.receipt_number + "/refunds", body, refund.key);
    refundInFlight = false;
    if (!state.refund || state.refund.key !== refund.key) {
      renderAll();
      return;
    }
    const outcome = verdict(answer);
    if (outcome === "done") {
      retryIndex = 0;
      state.refund = null;
      save();
      notice(null);
      const made = answer.body.refund;
      showReceipt(
        answer.body.receipt,
        "已退货：退回 " + made.points + " 分，商品已回到货架（凭证 " + made.seq + "）"
      );
      loadCatalog();
    } else if (outcome === "refused") {
      state.refund = null;
      save();
      const receipt = receiptShown && receiptShown.receipt_number === refund.receipt_number ? receiptShown : null;
      if (receipt) renderRefundForm(receipt);
      show($("refund-message"), describe(answer.body, receipt));
      notice(null);
    } else {
      renderRefundPending(outcome === "signin" ? "登录已过期：重新登录后自动再次提交。" : null);
      if (outcome === "signin") signInNotice();
      retryLater();
    }
  }

  function renderRefundPending(text) {
    const refund = state.refund;
    if (!refund) return;
    const words =
      text ||
      "网络未确认这笔退货（小票 " + refund.receipt_number + "，已提交 " + refund.attempts +
        " 次）。网络恢复后自动用同一编号重新提交，不会重复退分。";
    const onReceipt = receiptShown && receiptShown.receipt_number === refund.receipt_number && $("refund");
    if (onReceipt) {
      $("refund-pending-text").textContent = words;
      $("refund-pending").hidden = false;
    } else {
      notice("退货待确认：" + words);
    }
  }

  // --- today and the shelf ---------------------------------------------------------------

  async function loadDay() {
    const answer = await call("GET", "/day");
    if (!answer.ok) {
      if (isSignedOut(answer)) signInNotice();
      else show($("day-message"), answer.status === 0 ? "网络不通，无法读取今日兑换。" : describe(answer.body));
      return;
    }
    show($("day-message"), null);
    const summary = answer.body.summary;
    const stats = $("day-summary");
    stats.textContent = "";
    const figures = [
      ["兑换笔数", summary.sales, "day-sales-count"],
      ["兑换积分", summary.points, "day-points"],
      ["退货笔数", summary.refunds, "day-refunds-count"],
      ["退回积分", summary.refunded_points, "day-refunded-points"],
    ];
    for (const [label, value, id] of figures) {
      stats.append(el("div", {}, [el("dt", { text: label }), el("dd", { id: id, text: value })]));
    }
    const body = $("day-sales").querySelector("tbody");
    body.textContent = "";
    for (const sale of answer.body.sales) {
      body.append(
        el("tr", { "data-receipt": sale.receipt_number }, [
          el("td", { className: "number", text: sale.receipt_number }),
          el("td", { text: timeFormat.format(instant(sale.created_at)) }),
          el("td", { text: sale.member_masked_name }),
          el("td", { className: "number", text: sale.total_points }),
          el("td", { className: "number", text: sale.refunded_points || "" }),
          el("td", {}, [
            el("button", {
              type: "button",
              className: "secondary small",
              "aria-label": "查看小票 " + sale.receipt_number,
              text: "查看",
              onclick: () => showReceipt(sale, null),
            }),
          ]),
        ])
      );
    }
    $("day-empty").hidden = answer.body.sales.length > 0;
    renderStock(summary.goods);
  }

  async function loadStock() {
    const [day, goods] = await Promise.all([call("GET", "/day"), call("GET", "/goods")]);
    if (goods.ok) {
      catalog = goods.body;
      renderCatalog();
    }
    if (day.ok) renderStock(day.body.summary.goods);
    else if (isSignedOut(day)) signInNotice();
  }

  function renderStock(dayGoods) {
    const body = $("stock-table").querySelector("tbody");
    body.textContent = "";
    for (const goods of dayGoods) {
      const known = catalog.find((g) => g.id === goods.goods_id);
      const inactive = known && !known.active;
      body.append(
        el("tr", { className: (inactive ? "inactive " : "") + (goods.stock <= 3 ? "low" : ""), "data-goods-id": goods.goods_id }, [
          el("td", { text: goods.name + (inactive ? "（已下架）" : "") }),
          el("td", { className: "number", text: known ? known.price_points + " 分" : "" }),
          el("td", { className: "number stock", text: goods.stock + goods.unit }),
          el("td", { className: "number", text: goods.sold }),
          el("td", { className: "number", text: goods.refunded }),
        ])
      );
    }
  }

  // --- the camera (BarcodeDetector, where the browser has it) ----------------------------

  let cameraStream = null;
  let cameraTimer = null;

  function cameraAvailable() {
    return "BarcodeDetector" in window && navigator.mediaDevices && typeof navigator.mediaDevices.getUserMedia === "function";
  }

  async function openCamera() {
    const box = $("camera");
    show($("camera-message"), null);
    box.hidden = false;
    try {
      const wanted = ["qr_code", "ean_13", "ean_8", "upc_a", "upc_e", "code_128", "code_39"];
      const supported = await window.BarcodeDetector.getSupportedFormats();
      const formats = wanted.filter((f) => supported.includes(f));
      const detector = new window.BarcodeDetector(formats.length ? { formats: formats } : undefined);
      cameraStream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
      const video = $("camera-video");
      video.srcObject = cameraStream;
      await video.play();
      const tick = async () => {
        if (!cameraStream) return;
        try {
          const codes = await detector.detect(video);
          if (codes.length) {
            closeCamera();
            handleCode(codes[0].rawValue);
            return;
          }
        } catch (error) {
          // A frame it could not read: try the next one.
        }
        cameraTimer = setTimeout(tick, 200);
      };
      tick();
    } catch (error) {
      show($("camera-message"), "无法使用摄像头（需要 https 访问并允许使用摄像头）：" + (error && error.message ? error.message : error) + "。可以用扫码枪或手动输入。");
    }
  }

  function closeCamera() {
    if (cameraTimer !== null) clearTimeout(cameraTimer);
    cameraTimer = null;
    if (cameraStream) for (const track of cameraStream.getTracks()) track.stop();
    cameraStream = null;
    $("camera-video").srcObject = null;
    $("camera").hidden = true;
    focusScan();
  }

  // --- the network -----------------------------------------------------------------------

  function renderNetwork() {
    const net = $("net");
    const online = navigator.onLine;
    net.textContent = online ? "在线" : "离线";
    net.classList.toggle("offline", !online);
  }

  // Unconfirmed work another cashier left on this device: it is theirs to resubmit (their
  // key belongs to their name), so say so rather than send it under this cashier's name.
  function othersPending() {
    for (let i = 0; i < window.localStorage.length; i += 1) {
      const name = window.localStorage.key(i);
      if (!name || !name.startsWith(STORE_PREFIX) || name === STORE) continue;
      if (!name.endsWith("." + config.villageId)) continue;
      try {
        const other = JSON.parse(window.localStorage.getItem(name) || "null");
        if (other && ((other.basket && other.basket.status === "pending") || other.refund)) return true;
      } catch (error) {
        continue;
      }
    }
    return false;
  }

  // --- wiring ----------------------------------------------------------------------------

  function renderAll() {
    renderMember();
    renderBasket();
    renderCatalog();
    renderLast();
  }

  $("scan-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("scan");
    const code = input.value;
    input.value = "";
    handleCode(code);
    input.focus();
  });
  // A USB scanner types the code and presses Enter. Into the focused box, that is the
  // form above; with the focus elsewhere (a goods button just tapped), it is caught here,
  // so that the box need not take the focus back (which would open a tablet's on-screen
  // keyboard after every tap).
  let typed = "";
  let typedAt = 0;
  document.addEventListener(
    "keydown",
    (event) => {
      const target = event.target;
      if (target instanceof Element && target.matches("input, textarea, select, [contenteditable]")) return;
      if (event.ctrlKey || event.metaKey || event.altKey || $("panel-sale").hidden) return;
      if (event.timeStamp - typedAt > 1000) typed = "";
      typedAt = event.timeStamp;
      if (event.key === "Enter") {
        if (typed) {
          event.preventDefault();
          const code = typed;
          typed = "";
          handleCode(code);
        }
      } else if (event.key.length === 1) {
        typed += event.key;
      }
    },
    true
  );
  $("name-toggle").addEventListener("click", () => {
    showFullName = !showFullName;
    renderMember();
  });
  $("member-clear").addEventListener("click", () => {
    if (state.basket.status !== "editing") return;
    state.basket.member = null;
    showFullName = false;
    save();
    renderAll();
    focusScan();
  });
  $("basket-clear").addEventListener("click", () => {
    if (state.basket.status !== "editing") return;
    state.basket = newBasket(null);
    showFullName = false;
    save();
    say("");
    renderAll();
    focusScan();
  });
  $("redeem").addEventListener("click", redeem);
  $("pending-retry").addEventListener("click", retryNow);
  $("print").addEventListener("click", () => window.print());
  $("receipt-done").addEventListener("click", () => openPanel("sale"));
  if ($("refund")) {
    $("refund-lines-submit").addEventListener("click", () => startRefund(false));
    $("refund-all").addEventListener("click", () => startRefund(true));
    $("refund-retry").addEventListener("click", retryNow);
  }
  $("open-receipt").addEventListener("submit", async (event) => {
    event.preventDefault();
    const number = $("receipt-number").value.trim();
    if (!/^[0-9]{1,12}$/.test(number)) {
      show($("day-message"), "请输入小票号（数字）。");
      return;
    }
    show($("day-message"), await openReceipt(number));
  });
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => openPanel(tab.dataset.panel));
  }
  if (cameraAvailable()) {
    $("camera-open").hidden = false;
    $("camera-open").addEventListener("click", openCamera);
  }
  $("camera-close").addEventListener("click", closeCamera);

  window.addEventListener("online", () => {
    renderNetwork();
    retryNow();
  });
  window.addEventListener("offline", renderNetwork);
  window.addEventListener("storage", (event) => {
    if (event.key === STORE) {
      state = load();
      renderAll();
    }
  });

  renderNetwork();
  renderAll();
  if (othersPending()) {
    notice("本机还有其他收银员未确认的兑换或退货：请该收银员在本机登录收银台，自动完成确认。");
  }
  loadCatalog();
  // Whatever was left unconfirmed when the page was last closed goes again now.
  submitAll();
  // A basket kept from before: the member's points as they are now.
  if (state.basket.status === "editing" && state.basket.member) {
    lookup({ member_id: state.basket.member.member_id }, true);
  }
  focusScan();
})();
