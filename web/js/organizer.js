// The organizer's desk: sign in, create a campaign (every field of API.md's
// POST /campaigns), follow your campaigns, list their pledges, download them
// as CSV, cancel, and copy the widget and badge snippets.
import config from "../config.js";
import { ApiError, api, campaignPath, campaignUrl } from "./api.js";
import { completeSignIn, isLocal, session, signInLocally, signInWithProvider, signOut } from "./auth.js";
import { now, syncClock } from "./clock.js";
import { embedSection } from "./embed-code.js";
import { CAMPAIGN_STATUS, backers, countdown, dateTime, money, parseAmount } from "./format.js";
import { refundControls, refundable } from "./pledge-refund.js";
import { showPayouts } from "./payouts.js";
import { $, busy, every, h, markInvalid, progressBar, showError, showStatus } from "./ui.js";

let me = session();

const FIELD_LABELS = {
  title: "Title",
  description: "Description",
  "goal.amount": "Goal",
  "goal.currency": "Currency",
  goal: "Goal",
  deadline: "Deadline",
  funding_model: "Funding model",
  min_backers: "Minimum backers",
  "min_pledge.amount": "Minimum pledge",
  min_pledge: "Minimum pledge",
};

function expired(failure) {
  if (failure instanceof ApiError && failure.status === 401) {
    signOut();
    me = null;
    showSignIn("Your sign-in has expired. Please sign in again.");
    return true;
  }
  return false;
}

// ---------------------------------------------------------------- sign-in

function showSignIn(message = "") {
  $("#desk").hidden = true;
  $("#sign-in").hidden = false;
  showError($("#page-error"), message);
  if (isLocal()) {
    $("#local-sign-in").hidden = false;
  } else {
    $("#provider-sign-in").hidden = false;
    $("#provider-button").textContent = `Sign in with ${config.auth.providerName || "your account"}`;
  }
}

async function localSignIn(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const error = $("#sign-in-error");
  const sub = form.sub.value.trim();
  showError(error, "");
  if (!sub) {
    form.sub.setAttribute("aria-invalid", "true");
    showError(error, "Enter an organizer name to sign in as.");
    form.sub.focus();
    return;
  }
  const button = form.querySelector("button");
  busy(button, true, "Signing in…");
  try {
    me = await signInLocally(sub);
    await showDesk();
    // Start at the new campaign's title, unless the organizer has already
    // moved on to a control of the desk while it was loading (never steal focus).
    const moved = document.activeElement && document.activeElement.closest("#desk");
    if (!moved) $("#title").focus();
  } catch (failure) {
    showError(error, failure.message);
  } finally {
    busy(button, false);
  }
}

// ---------------------------------------------------------------- the desk

function localInputValue(ms) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

async function showDesk() {
  $("#sign-in").hidden = true;
  $("#desk").hidden = false;
  showError($("#page-error"), "");
  $("#who").textContent = `Signed in as ${me.name}.`;
  const deadline = $("#deadline");
  const inAMonth = new Date(now() + 30 * 86400000);
  inAMonth.setHours(18, 0, 0, 0);
  if (!deadline.value) deadline.value = localInputValue(inAMonth.getTime());
  deadline.min = localInputValue(now());
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  $("#deadline-hint").textContent = `Your local time${zone ? ` (${zone})` : ""}. Must be in the future.`;
  await Promise.all([loadMine(), showPayouts(me, expired)]);
}

function readCreateForm(form) {
  const currency = form.currency.value;
  const title = form.title.value.trim();
  if (!title) return { error: "Give the campaign a title.", field: form.title };
  const goal = parseAmount(form.goal.value, currency);
  if (!goal) return { error: "Enter the goal as an amount, like 2000 or 2000.50.", field: form.goal };
  const when = new Date(form.deadline.value);
  if (!form.deadline.value || Number.isNaN(when.getTime())) {
    return { error: "Choose the deadline's date and time.", field: form.deadline };
  }
  if (when.getTime() <= now()) return { error: "The deadline must be in the future.", field: form.deadline };
  const body = {
    title,
    description: form.description.value.trim(),
    goal: { amount: goal, currency },
    deadline: when.toISOString().replace(/\.\d{3}Z$/, "Z"),
    funding_model: form.funding_model.value,
  };
  const minBackers = form.min_backers.value.trim();
  if (minBackers) {
    if (!/^\d+$/.test(minBackers)) {
      return { error: "Minimum backers must be a whole number (0 for none).", field: form.min_backers };
    }
    body.min_backers = Number(minBackers);
  }
  if (form.min_pledge.value.trim()) {
    const minimum = parseAmount(form.min_pledge.value, currency);
    if (!minimum) return { error: "Enter the minimum pledge as an amount, like 3 or 2.50.", field: form.min_pledge };
    body.min_pledge = { amount: minimum, currency };
  }
  return { body };
}

async function create(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const error = $("#create-error");
  const status = $("#create-status");
  const button = $("#create-button");
  showError(error, "");
  showStatus(status, "");
  markInvalid(form, [], FIELD_LABELS);
  const read = readCreateForm(form);
  if (read.error) {
    read.field.setAttribute("aria-invalid", "true");
    showError(error, read.error);
    read.field.focus();
    return;
  }
  busy(button, true, "Creating…");
  try {
    const { data } = await api("POST", "/campaigns", { body: read.body, token: me.token });
    for (const name of ["title", "description", "goal", "min_pledge"]) form[name].value = "";
    status.replaceChildren(`Created “${data.title}”. `, h("a", { href: campaignUrl(data.id) }, "Open its page"), ".");
    upsert(data, true);
  } catch (failure) {
    if (expired(failure)) return;
    if (failure instanceof ApiError && failure.status === 422) {
      const problems = markInvalid(form, failure.details, FIELD_LABELS);
      showError(error, problems.length ? `Please check: ${problems.join("; ")}.` : failure.message);
    } else {
      showError(error, failure.message);
    }
  } finally {
    busy(button, false);
  }
}

// ---------------------------------------------------------------- own campaigns

const articles = new Map(); // campaign id -> {article, update}

/** Every campaign of this organizer: GET /campaigns, filtered by `organizer`
 * (the API has no "mine" listing). */
async function mine() {
  const found = [];
  let cursor = null;
  for (let page = 0; page < 20; page += 1) {
    const query = new URLSearchParams({ limit: "100" });
    if (cursor) query.set("cursor", cursor);
    const { data } = await api("GET", `/campaigns?${query}`);
    found.push(...data.campaigns.filter((c) => c.organizer === me.sub));
    cursor = data.next_cursor;
    if (!cursor) break;
  }
  return found.sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
}

async function loadMine() {
  const status = $("#mine-status");
  try {
    const campaigns = await mine();
    showStatus(status, campaigns.length ? "" : "No campaigns yet: create your first one above.");
    for (const c of campaigns.reverse()) upsert(c, true);
  } catch (failure) {
    if (!expired(failure)) showStatus(status, `Your campaigns could not be loaded: ${failure.message}`);
  }
}

function upsert(c, first) {
  const known = articles.get(c.id);
  if (known) {
    known.update(c);
    return;
  }
  const view = campaignArticle(c);
  articles.set(c.id, view);
  const list = $("#mine");
  if (first) list.prepend(view.article);
  else list.append(view.article);
  showStatus($("#mine-status"), "");
}

function campaignArticle(c) {
  const id = c.id;
  const titleId = `c-${id}-title`;
  const tag = h("p", { class: "tag" });
  const bar = progressBar(0, "Funded");
  const numbers = h("p");
  const when = h("p", { class: "hint" });
  const error = h("div", { class: "error", role: "alert" });
  const status = h("p", { class: "status", role: "status" });
  const pledgesBox = h("div", { id: `c-${id}-pledges`, hidden: true });
  const showPledges = h(
    "button",
    { type: "button", class: "secondary", "aria-expanded": "false", "aria-controls": pledgesBox.id },
    "Show pledges",
  );
  const csv = h("button", { type: "button", class: "secondary" }, "Download CSV");
  const payout = h("p", { class: "hint" });
  const cancelButton = h("button", { type: "button", class: "danger" }, "Cancel campaign");
  const refundButton = h("button", { type: "button", class: "danger" }, "Refund everyone");
  const reasonId = `c-${id}-reason`;
  const reason = h("textarea", {
    id: reasonId,
    name: "reason",
    rows: 2,
    maxlength: 500,
    required: true,
    "aria-describedby": `${reasonId}-hint`,
  });
  const refundError = h("div", { class: "error", role: "alert" });
  const refundBox = h(
    "div",
    { class: "confirm", hidden: true },
    h(
      "p",
      {},
      `Refund every backer of “${c.title}”? Each collected pledge is given back in full to the card it came from. This cannot be undone.`,
    ),
    h(
      "div",
      { class: "field reason" },
      h("label", { for: reasonId }, "Reason for the refund"),
      reason,
      h("p", { id: `${reasonId}-hint`, class: "hint" }, "Required. Kept with the refund, e.g. “the newspaper refused the ad”."),
    ),
    refundError,
    h(
      "div",
      { class: "row" },
      h("button", { type: "button", class: "danger", onclick: () => refund() }, "Yes, refund every backer"),
      h(
        "button",
        {
          type: "button",
          class: "secondary",
          onclick: () => {
            refundBox.hidden = true;
            refundButton.focus();
          },
        },
        "Do not refund",
      ),
    ),
  );
  const confirmBox = h(
    "div",
    { class: "confirm", hidden: true },
    h("p", {}, `Cancel “${c.title}”? Every pledge is released and nobody is charged. This cannot be undone.`),
    h(
      "div",
      { class: "row" },
      h("button", { type: "button", class: "danger", onclick: () => cancel() }, "Yes, cancel the campaign"),
      h(
        "button",
        {
          type: "button",
          class: "secondary",
          onclick: () => {
            confirmBox.hidden = true;
            cancelButton.focus();
          },
        },
        "Keep it",
      ),
    ),
  );
  const article = h(
    "article",
    { class: "card campaign", "aria-labelledby": titleId, "data-campaign": id },
    h("h3", { id: titleId }, h("a", { href: campaignUrl(id) }, c.title)),
    tag,
    bar,
    numbers,
    when,
    payout,
    h("div", { class: "row" }, showPledges, csv, cancelButton, refundButton),
    confirmBox,
    refundBox,
    error,
    status,
    pledgesBox,
    embedSection(c, `embed-${id}`),
  );
  let current = c;

  function update(next) {
    current = next;
    tag.textContent = CAMPAIGN_STATUS[next.status] || next.status;
    tag.dataset.status = next.status;
    bar.value = Math.min(100, next.percent_funded);
    numbers.textContent =
      `${money(next.pledged.amount, next.pledged.currency)} of ${money(next.goal.amount, next.goal.currency)} · ` +
      `${backers(next.pledged.backers)} · ${next.percent_funded}% funded`;
    const left = countdown(next.deadline, now());
    when.textContent = left === "Ended" ? `Ended ${dateTime(next.deadline)}` : `${left} · ends ${dateTime(next.deadline)}`;
    cancelButton.hidden = next.status !== "live";
    if (next.status !== "live") confirmBox.hidden = true;
    refundButton.hidden = next.status !== "succeeded";
    if (next.status !== "succeeded") refundBox.hidden = true;
    const conditional = next.pledged_if_conditions_met;
    const more = conditional ? conditional.amount - next.pledged.amount : 0;
    if (more > 0) numbers.textContent += ` · ${money(more, next.goal.currency)} more on conditions`;
    const refunded = next.settlement && next.settlement.refunded;
    if (refunded) {
      numbers.textContent += ` · ${money(refunded, next.goal.currency)} refunded`;
    }
    payout.textContent = payoutText(next);
    payout.hidden = !payout.textContent;
  }

  async function togglePledges() {
    const open = showPledges.getAttribute("aria-expanded") === "true";
    if (open) {
      showPledges.setAttribute("aria-expanded", "false");
      showPledges.textContent = "Show pledges";
      pledgesBox.hidden = true;
      return;
    }
    showError(error, "");
    busy(showPledges, true, "Loading pledges…");
    try {
      const pledges = [];
      let cursor = null;
      for (let page = 0; page < 50; page += 1) {
        const query = new URLSearchParams({ limit: "100" });
        if (cursor) query.set("cursor", cursor);
        const { data } = await api("GET", `${campaignPath(id)}/pledges?${query}`, { token: me.token });
        pledges.push(...data.pledges);
        cursor = data.next_cursor;
        if (!cursor) break;
      }
      pledgesBox.replaceChildren(pledgeTable(current, pledges));
      pledgesBox.hidden = false;
      busy(showPledges, false);
      showPledges.setAttribute("aria-expanded", "true");
      showPledges.textContent = "Hide pledges";
    } catch (failure) {
      busy(showPledges, false);
      if (!expired(failure)) showError(error, `The pledges could not be loaded: ${failure.message}`);
    }
  }

  async function download() {
    showError(error, "");
    showStatus(status, "");
    busy(csv, true, "Preparing CSV…");
    try {
      const response = await fetch(`${config.apiBase}${campaignPath(id)}/pledges.csv`, {
        headers: { Authorization: `Bearer ${me.token}` },
      });
      if (!response.ok) {
        let message = `the server answered ${response.status}`;
        try {
          message = (await response.json()).error.message;
        } catch {
          // not JSON
        }
        if (response.status === 401) {
          expired(new ApiError(401, "unauthorized", message));
          return;
        }
        throw new Error(
          response.status === 404 || response.status === 405
            ? `The CSV export is not available from this server yet (${message})`
            : message,
        );
      }
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      const link = h("a", { href: url, download: `${id}-pledges.csv`, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      showStatus(status, `Downloaded ${id}-pledges.csv.`);
    } catch (failure) {
      showError(error, `The CSV could not be downloaded: ${failure.message}`);
    } finally {
      busy(csv, false);
    }
  }

  async function cancel() {
    showError(error, "");
    try {
      const { data } = await api("POST", `${campaignPath(id)}/cancel`, { token: me.token });
      update(data);
      showStatus(status, "Cancelled. Every pledge is being released.");
      showPledges.focus();
    } catch (failure) {
      if (!expired(failure)) showError(error, `The campaign could not be cancelled: ${failure.message}`);
    }
  }

  async function refund() {
    showError(refundError, "");
    const why = reason.value.trim();
    if (!why) {
      reason.setAttribute("aria-invalid", "true");
      showError(refundError, "Say why you refund everyone: backers are told.");
      reason.focus();
      return;
    }
    reason.removeAttribute("aria-invalid");
    const yes = refundBox.querySelector(".row button");
    busy(yes, true, "Refunding…");
    try {
      const { data } = await api("POST", `${campaignPath(id)}/refund`, { body: { reason: why }, token: me.token });
      update(data);
      showStatus(status, "Refunding every backer at Stripe's pace. This page follows it until it is done.");
      showPledges.focus();
      follow();
    } catch (failure) {
      if (expired(failure)) return;
      showError(
        refundError,
        failure instanceof ApiError && (failure.status === 404 || failure.status === 405)
          ? "Refunds are not available from this server yet."
          : `The refund could not be started: ${failure.message}`,
      );
    } finally {
      busy(yes, false);
    }
  }

  /** While refunding: the campaign again every 2 s until it is `refunded`. */
  async function follow() {
    for (let i = 0; i < 300 && current.status === "refunding"; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 2000));
      try {
        update((await api("GET", campaignPath(id))).data);
      } catch {
        // the next look may work
      }
    }
    if (current.status === "refunded") showStatus(status, "Refunded: every backer has their money back.");
  }

  showPledges.addEventListener("click", togglePledges);
  refundButton.addEventListener("click", () => {
    refundBox.hidden = false;
    reason.focus();
  });
  csv.addEventListener("click", download);
  cancelButton.addEventListener("click", () => {
    confirmBox.hidden = false;
    confirmBox.querySelector("button").focus();
  });
  update(c);
  return { article, update };
}

const PAYOUT = {
  not_ready: "waiting until the collection is complete and your Stripe account is enabled",
  pending: "on its way to your Stripe account",
  paid: "paid to your Stripe account",
  reversed: "taken back after the refund",
};

/** The campaign's payout (API.md `payout`, null when payouts are off). */
function payoutText(c) {
  const p = c.payout;
  if (!p) return "";
  const currency = c.goal.currency;
  const fee = p.fee ? ` after a ${money(p.fee, currency)} platform fee` : "";
  return `Payout: ${money(p.amount, currency)}${fee}, ${PAYOUT[p.status] || p.status.replaceAll("_", " ")}.`;
}

/** A pledge's amount, with its fair share and refunds once the money moved. */
function pledgeAmount(p) {
  const parts = [money(p.amount, p.currency)];
  const moved = p.status === "collected" || p.status === "refunded";
  if (moved && typeof p.charged === "number" && p.charged > 0 && p.charged !== p.amount) {
    parts.push(`charged ${money(p.charged, p.currency)}`);
  }
  if (typeof p.refunded_amount === "number" && p.refunded_amount > 0) {
    parts.push(`refunded ${money(p.refunded_amount, p.currency)}`);
  }
  if (p.condition && p.condition.min_backers) parts.push(`if ${backers(p.condition.min_backers)}`);
  return parts.join(", ");
}

function pledgeTable(c, pledges) {
  if (!pledges.length) return h("p", {}, "No pledges yet.");
  // An Actions column only when a pledge can be refunded (collected, money left).
  const actions = pledges.some((p) => refundable(p) > 0);
  const headings = ["Email", "Name", "Amount", "Status", "Pledged", "Message", ...(actions ? ["Actions"] : [])];
  const body = h("tbody");

  function rows(p) {
    const row = h(
      "tr",
      {},
      h("td", { class: "email" }, p.email),
      h("td", {}, [p.display_name || "—", p.anonymous ? " (anonymous)" : ""].join("")),
      h("td", { class: "num" }, pledgeAmount(p)),
      h("td", { class: "nowrap" }, p.status.replaceAll("_", " ")),
      h("td", {}, dateTime(p.created_at)),
      h("td", {}, p.message || ""),
    );
    if (!actions) return [row];
    if (refundable(p) <= 0) {
      row.append(h("td"));
      return [row];
    }
    const [button, formRow] = refundControls(c, p, {
      token: me.token,
      columns: headings.length,
      expired,
      done: (updated) => {
        const fresh = rows(updated);
        formRow.replaceWith(...fresh.slice(1));
        row.replaceWith(fresh[0]);
        const next = fresh[0].querySelector("button") || fresh[0].querySelector("td");
        next.tabIndex = next.tagName === "TD" ? -1 : next.tabIndex;
        next.focus();
      },
    });
    row.append(h("td", {}, button));
    return [row, formRow];
  }

  body.append(...pledges.flatMap(rows));
  return h(
    "div",
    { class: "table-wrap", role: "region", "aria-label": `Pledges to ${c.title}`, tabindex: "0" },
    h(
      "table",
      {},
      h("caption", {}, `${pledges.length} pledge${pledges.length === 1 ? "" : "s"}`),
      h("thead", {}, h("tr", {}, ...headings.map((t) => h("th", { scope: "col" }, t)))),
      body,
    ),
  );
}

// ---------------------------------------------------------------- start

async function start() {
  await syncClock();
  $("#local-sign-in").addEventListener("submit", localSignIn);
  $("#provider-button").addEventListener("click", () =>
    signInWithProvider().catch((failure) => showError($("#provider-error"), failure.message)),
  );
  $("#sign-out").addEventListener("click", () => {
    signOut();
    me = null;
    articles.clear();
    $("#mine").replaceChildren();
    showSignIn();
  });
  $("#create-form").addEventListener("submit", create);
  $("#refresh").addEventListener("click", loadMine);
  try {
    me = (await completeSignIn()) || me;
  } catch (failure) {
    showSignIn(failure.message);
    return;
  }
  if (me) await showDesk();
  else showSignIn();
  every(15000, () => (me && !$("#desk").hidden ? loadMine() : null));
}

start();
