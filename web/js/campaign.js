// The campaign page (?c=cmp_…): progress, backers and the pledge form; without
// ?c= the list of live campaigns.
import { ApiError, api, backerUrl, campaignPath, campaignUrl, pledgePath, retrying } from "./api.js";
import { now, syncClock } from "./clock.js";
import { embedSection } from "./embed-code.js";
import {
  CAMPAIGN_STATUS,
  FUNDING_MODEL,
  ago,
  backers as backersText,
  countdown,
  dateTime,
  money,
  parseAmount,
  symbol,
} from "./format.js";
import { fairShare } from "./fair-share.js";
import { confirm, mountPayment } from "./payment.js";
import { remember } from "./remember.js";
import { $, busy, every, h, markInvalid, progressBar, showError, showStatus } from "./ui.js";

const id = new URLSearchParams(location.search).get("c");
let campaign = null;

const FIELD_LABELS = {
  amount: "Amount",
  currency: "Amount",
  email: "Email",
  display_name: "Name shown to others",
  message: "Message to the organizer",
  condition: "Backers needed",
};

const CONDITION_LIMIT = 1000000;

// ---------------------------------------------------------------- home

async function home() {
  $("#home").hidden = false;
  const list = $("#campaigns");
  const { data } = await api("GET", "/campaigns?status=live&limit=50");
  $("#no-campaigns").hidden = data.campaigns.length > 0;
  list.replaceChildren(
    ...data.campaigns.map((c) =>
      h(
        "li",
        { class: "card" },
        h("h2", {}, h("a", { href: campaignUrl(c.id) }, c.title)),
        progressBar(c.percent_funded, `${c.title}: funded`),
        h(
          "p",
          {},
          `${money(c.pledged.amount, c.pledged.currency)} of ${money(c.goal.amount, c.goal.currency)} · `,
          `${backersText(c.pledged.backers)} · ${countdown(c.deadline, now())}`,
        ),
      ),
    ),
  );
}

// ---------------------------------------------------------------- campaign

function isOpen(c) {
  return c.status === "live" && Date.parse(c.deadline) > now();
}

function renderCampaign(c) {
  campaign = c;
  document.title = `${c.title} · cashmob`;
  $("#status").textContent = CAMPAIGN_STATUS[c.status] || c.status;
  $("#status").dataset.status = c.status;
  $("#title").textContent = c.title;
  const description = $("#description");
  description.replaceChildren(
    ...String(c.description || "")
      .split(/\n{2,}/)
      .filter(Boolean)
      .map((paragraph) => h("p", {}, paragraph)),
  );
  $("#pledged").textContent = money(c.pledged.amount, c.pledged.currency);
  $("#goal").textContent = `${money(c.goal.amount, c.goal.currency)} goal`;
  $("#bar").value = Math.min(100, c.percent_funded);
  $("#numbers").textContent = `${backersText(c.pledged.backers)} · ${c.percent_funded}% funded`;
  // Pledges on a condition the crowd does not meet yet (API.md: `pledged`
  // counts the conditions already met; `pledged_if_conditions_met` all).
  const conditional = c.pledged_if_conditions_met;
  const more = conditional ? conditional.amount - c.pledged.amount : 0;
  $("#conditional").hidden = !(more > 0);
  if (more > 0) {
    $("#conditional").textContent = `${money(more, c.goal.currency)} more pledged on conditions: it counts once enough backers join.`;
  }
  $("#min-backers").hidden = !c.min_backers;
  $("#min-backers").textContent = `Needs at least ${backersText(c.min_backers)} as well as the goal.`;
  $("#model").textContent = FUNDING_MODEL[c.funding_model] || "";
  renderCountdown();
  const outcome = $("#outcome");
  outcome.hidden = !c.settlement;
  if (c.settlement) {
    const s = c.settlement;
    outcome.textContent =
      s.outcome === "succeeded"
        ? `Succeeded: ${money(s.collected, c.goal.currency)} collected.` +
          (s.refunded ? ` ${money(s.refunded, c.goal.currency)} given back to the backers.` : "")
        : "The goal was not reached: every pledge was released and nobody paid.";
  }
  renderPledgeHints(c);
  const open = isOpen(c);
  $("#pledge-closed").hidden = open || !$("#pay-form").hidden;
  $("#pledge-form").hidden = !open && $("#details").disabled === false;
}

function renderCountdown() {
  if (!campaign) return;
  const left = countdown(campaign.deadline, now());
  $("#countdown").textContent =
    left === "Ended" ? `Ended ${dateTime(campaign.deadline)}` : `${left} · ends ${dateTime(campaign.deadline)}`;
}

async function renderBackers() {
  const { data } = await api("GET", `${campaignPath(id)}/backers?limit=10`);
  const list = $("#backers");
  list.replaceChildren(
    ...data.backers.map((b) =>
      h(
        "li",
        {},
        h("span", { class: "name" }, b.name),
        h(
          "span",
          { class: "meta" },
          h("span", { class: "amount" }, b.amount === null ? "amount hidden" : money(b.amount, campaign.goal.currency)),
          h("span", { class: "when" }, ago(b.pledged_at, now())),
        ),
      ),
    ),
  );
  $("#no-backers").hidden = data.backers.length > 0;
}

async function refresh() {
  const { data } = await api("GET", campaignPath(id));
  renderCampaign(data);
  await renderBackers();
}

// ---------------------------------------------------------------- pledging

/** The fixed-price estimate under the amount, and the crowd size beside the
 * condition field: both follow the campaign as it refreshes. */
function renderPledgeHints(c) {
  const currency = c.goal.currency;
  // The condition field only where the API takes conditions: a campaign that
  // reports `pledged_if_conditions_met` (API.md).
  $("#condition-field").hidden = !("pledged_if_conditions_met" in c);
  $("#condition-hint").textContent =
    `Optional, you included; leave it empty to count whatever happens. So far: ${backersText(c.pledged.backers)}.`;
  const note = $("#fair-share");
  note.hidden = c.funding_model !== "fixed_price";
  if (note.hidden) return;
  const price = money(c.goal.amount, currency);
  const amount = parseAmount($("#amount").value, currency);
  if (amount === null || amount <= 0) {
    note.textContent = `Fixed price: if the crowd pledges more than the ${price} price, each backer pays the same share of their pledge, so together you pay exactly ${price}.`;
    return;
  }
  const share = fairShare(amount, c.goal.amount, c.pledged.amount + amount);
  note.textContent =
    share < amount
      ? `If it closed now you would pay ${money(share, currency)} of your ${money(amount, currency)}: the crowd would be over the ${price} price, so each backer pays the same share.`
      : `If it closed now you would pay all of it: the crowd would not be over the ${price} price.`;
}

function setUpForm(c) {
  const currency = c.goal.currency;
  const minimum = c.min_pledge ? money(c.min_pledge.amount, currency) : null;
  $("#amount-currency").textContent = symbol(currency);
  $("#amount-hint").textContent = `In ${currency.toUpperCase()}${minimum ? `, at least ${minimum}` : ""}.`;
  $("#terms").textContent =
    c.funding_model === "keep_what_you_raise"
      ? "No money moves now: your card is charged at the deadline."
      : "No money moves now: your card is charged only if this campaign succeeds by its deadline.";
  $("#amount").addEventListener("input", () => renderPledgeHints(campaign));
  $("#pledge-form").addEventListener("submit", submitPledge);
  $("#pay-form").addEventListener("submit", submitPayment);
}

/** The form as the API's pledge body, or {error, field}. */
function readForm() {
  const form = $("#pledge-form");
  const currency = campaign.goal.currency;
  const amount = parseAmount(form.amount.value, currency);
  if (amount === null || amount <= 0) {
    return { error: "Enter the amount you pledge, for example 25 or 25.50.", field: form.amount };
  }
  if (campaign.min_pledge && amount < campaign.min_pledge.amount) {
    return {
      error: `The smallest pledge is ${money(campaign.min_pledge.amount, currency)}.`,
      field: form.amount,
    };
  }
  const email = form.email.value.trim();
  if (!form.email.checkValidity() || !email) {
    return { error: "Enter your email address, like name@example.org.", field: form.email };
  }
  const body = { amount, currency, email };
  const name = form.display_name.value.trim();
  if (name) body.display_name = name;
  if (form.anonymous.checked) body.anonymous = true;
  if (form.hide_amount.checked) body.hide_amount = true;
  const message = form.message.value.trim();
  if (message) body.message = message;
  const condition = $("#condition-field").hidden ? "" : form.condition.value.trim();
  if (condition) {
    const n = /^\d+$/.test(condition) ? Number(condition) : NaN;
    if (!(n >= 2 && n <= CONDITION_LIMIT)) {
      return {
        error: "Enter how many backers you need as a whole number of at least 2, or leave it empty.",
        field: form.condition,
      };
    }
    body.condition = { min_backers: n };
  }
  return { body };
}

function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// One attempt = one Idempotency-Key: kept while the backer retries the same
// pledge (a lost answer, a 5xx, pressing Pledge again), new when they change it.
let attempt = null;
let pledged = null; // {c, p, t}
let mounted = null;

async function submitPledge(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const error = $("#pledge-error");
  const status = $("#pledge-status");
  const button = $("#pledge-button");
  showError(error, "");
  markInvalid(form, [], FIELD_LABELS);
  const read = readForm();
  if (read.error) {
    read.field.setAttribute("aria-invalid", "true");
    showError(error, read.error);
    read.field.focus();
    return;
  }
  const json = JSON.stringify(read.body);
  if (!attempt || attempt.json !== json) attempt = { key: randomKey(), json };
  busy(button, true, "Pledging…");
  showStatus(status, "Recording your pledge…");
  try {
    const { status: code, data, headers } = await retrying("POST", `${campaignPath(id)}/pledges`, {
      body: read.body,
      headers: { "Idempotency-Key": attempt.key },
    });
    pledged = { c: id, p: data.pledge.id, t: data.pledge_token };
    remember(pledged);
    $("#details").disabled = true;
    button.hidden = true;
    let payment = data.payment;
    if (code === 202 || payment.status === "preparing") {
      payment = await whenReady(payment, status, Number(headers.get("Retry-After")));
    }
    if (payment.status === "failed") {
      // Stripe would not make this payment: the form again, for another pledge.
      $("#details").disabled = false;
      button.hidden = false;
      attempt = null;
      throw new Error(
        (payment.error && payment.error.message) ||
          "Your payment could not be prepared. Your pledge was not counted; please try again later.",
      );
    }
    showStatus(status, "");
    await showPayment(payment, data.pledge);
  } catch (failure) {
    showStatus(status, "");
    if (failure instanceof ApiError && failure.status === 422) {
      const problems = markInvalid(form, failure.details, FIELD_LABELS);
      showError(error, problems.length ? `Please check: ${problems.join("; ")}.` : failure.message);
    } else {
      showError(error, failure.message);
    }
    if (failure instanceof ApiError && failure.status === 409) refresh().catch(() => {});
  } finally {
    busy(button, false);
  }
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Flash intake (API.md): the pledge is recorded and its Stripe object is made
 * in arrival order; ask for it, first when the 202's Retry-After says, until
 * it is ready (or failed). */
async function whenReady(payment, status, retryAfter) {
  let estimate = payment.ready_in ?? 5;
  let wait = retryAfter > 0 ? Math.min(retryAfter, 30) : Math.min(5, Math.max(1, estimate / 2));
  for (;;) {
    showStatus(
      status,
      `Your pledge is recorded. Many people are pledging right now: your card form will be ready in about ${Math.max(1, Math.round(estimate))} seconds.`,
    );
    await pause(wait * 1000);
    const { data } = await retrying("GET", pledgePath(pledged.c, pledged.p), {
      headers: { "X-Pledge-Token": pledged.t },
    });
    const current = data.payment || {};
    if (current.status === "failed") return current;
    if (current.client_secret && current.status !== "preparing") return current;
    estimate = current.ready_in ?? Math.max(1, estimate / 2);
    wait = Math.min(5, Math.max(1, estimate / 2));
  }
}

async function showPayment(payment, pledge) {
  const amount = money(pledge.amount, pledge.currency);
  const keep = campaign.funding_model === "keep_what_you_raise";
  $("#pay-terms").textContent =
    payment.flow === "hold"
      ? `${amount} is held on your card now, not taken, and ${keep ? "taken at the deadline" : "taken only if the campaign succeeds"}.`
      : `Your card is saved with Stripe now and charged ${amount} ${keep ? "at the deadline" : "only if the campaign succeeds"}.`;
  const condition = pledge.condition || attemptCondition();
  if (condition) {
    $("#pay-terms").textContent += ` Your pledge counts only if at least ${backersText(condition.min_backers)} pledge in all.`;
  }
  $("#pay-form").hidden = false;
  mounted = await mountPayment($("#payment-element"), payment);
  $("#pay-title").focus();
}

function attemptCondition() {
  return attempt ? JSON.parse(attempt.json).condition : undefined;
}

async function submitPayment(event) {
  event.preventDefault();
  const button = $("#pay-button");
  const error = $("#pay-error");
  showError(error, "");
  busy(button, true, "Confirming…");
  try {
    const destination = backerUrl(pledged);
    const result = await confirm(mounted, destination);
    if (result.error) {
      showError(error, result.error);
      return;
    }
    showStatus($("#pay-status"), "Confirmed. Opening your pledge…");
    location.assign(destination);
  } catch (failure) {
    showError(error, failure.message);
  } finally {
    busy(button, false);
  }
}

// ---------------------------------------------------------------- start

async function start() {
  await syncClock();
  try {
    if (!id) {
      await home();
      return;
    }
    const { data } = await api("GET", campaignPath(id));
    $("#campaign").hidden = false;
    renderCampaign(data);
    setUpForm(data);
    $("#pledge-form").hidden = !isOpen(data);
    $("#embed").replaceChildren(embedSection(data));
    $("#loading").remove();
    await renderBackers();
    every(5000, () => refresh().catch(() => {}));
    setInterval(renderCountdown, 1000);
  } catch (failure) {
    const message =
      failure instanceof ApiError && failure.status === 404
        ? "There is no such campaign. Check the link, or browse the campaigns."
        : failure.message;
    showError($("#page-error"), message);
  } finally {
    $("#loading")?.remove();
  }
}

start();
