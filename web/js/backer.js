// The backer's page (pledge.html#c=cmp_…&p=plg_…&t=<token>): the pledge's
// status in words, "Cancel my pledge" before the deadline, and "Finish
// payment" when the charge needs the backer. The token lives in the URL
// fragment (browsers never send it to a server) and in localStorage.
import { ApiError, api, backerUrl, campaignPath, campaignUrl, pledgePath } from "./api.js";
import { now, syncClock } from "./clock.js";
import { backers, dateTime, money } from "./format.js";
import { confirm, confirmed, intentState, mountPayment } from "./payment.js";
import { remember, remembered, rememberedAll } from "./remember.js";
import { $, busy, every, h, showError } from "./ui.js";

const SHORT = {
  pending: "Waiting for your card",
  active: "Active",
  collected: "Collected",
  action_required: "Payment needed",
  released: "Released",
  cancelled: "Cancelled",
  expired: "Expired",
  failed: "Failed",
  refunded: "Refunded",
};

/** What the backer paid (API.md: `charged`, the fair share on a fixed price)
 * once the money moved; before that (`charged` is 0 or absent) the amount. */
function chargedOf(pledge) {
  const moved = pledge.status === "collected" || pledge.status === "refunded";
  return moved && typeof pledge.charged === "number" && pledge.charged > 0 ? pledge.charged : pledge.amount;
}

/** The amount given back: all of `charged` once `refunded`, else `refunded_amount`. */
function refundedOf(pledge) {
  if (typeof pledge.refunded_amount === "number" && pledge.refunded_amount > 0) return pledge.refunded_amount;
  return pledge.status === "refunded" ? chargedOf(pledge) : 0;
}

function conditionText(pledge) {
  const n = pledge.condition && pledge.condition.min_backers;
  return n ? `Only if at least ${backers(n)} pledge in all (you included)` : "";
}

/** The pledge's status as a sentence. */
function describe(pledge, campaign) {
  const amount = money(pledge.amount, pledge.currency);
  const charged = money(chargedOf(pledge), pledge.currency);
  const fair = chargedOf(pledge) !== pledge.amount;
  const refunded = refundedOf(pledge);
  const condition = pledge.condition && pledge.condition.min_backers;
  const keep = campaign.funding_model === "keep_what_you_raise";
  const when = keep ? "at the deadline" : `only if the campaign succeeds by ${dateTime(campaign.deadline)}`;
  switch (pledge.status) {
    case "pending":
      return "Waiting for your card: the pledge counts once your card is confirmed.";
    case "active":
      return (pledge.flow === "hold" || (pledge.payment && pledge.payment.flow === "hold")
        ? `Active: ${amount} is held on your card, not taken. It is taken ${when}.`
        : `Active: your card is saved${condition ? "" : " and your pledge counts toward the goal"}. You will be charged ${amount} ${when}.`) +
        (condition ? ` It counts only if at least ${backers(condition)} pledge in all.` : "") +
        (campaign.funding_model === "fixed_price"
          ? " If the crowd pledges more than the price, you pay only your fair share of it."
          : "");
    case "collected":
      return (
        (fair
          ? `Collected: you were charged ${charged} of your ${amount} — the fair share of the fixed price. Thank you!`
          : `Collected: you paid ${charged}. Thank you!`) +
        (refunded ? ` ${money(refunded, pledge.currency)} of it was refunded to your card.` : "")
      );
    case "action_required":
      return `Payment needed: the charge at the deadline did not go through. Finish payment${
        pledge.action_required_until ? ` by ${dateTime(pledge.action_required_until)}` : ""
      }, or the pledge fails.`;
    case "released":
      return condition && campaign.status !== "failed" && campaign.status !== "cancelled"
        ? `Released: fewer than ${backers(condition)} pledged in all, so your condition was not met. Nothing was charged and any hold on your card is gone.`
        : "Released: the campaign did not succeed, so nothing was charged and any hold on your card is gone.";
    case "cancelled":
      return "Cancelled: you cancelled this pledge. Nothing was charged.";
    case "expired":
      return "Expired: the card was never confirmed before the deadline. Nothing was charged.";
    case "failed":
      return `Failed: the payment did not go through${
        pledge.failure_reason ? ` (${pledge.failure_reason.replaceAll("_", " ")})` : ""
      }. Nothing was charged.`;
    case "refunded":
      return `Refunded: ${money(refunded, pledge.currency)} was given back to your card.`;
    default:
      return pledge.status;
  }
}

// ---------------------------------------------------------------- one pledge

let key = null; // {c, p, t}
let pledge = null;
let campaign = null;
let mounted = null;
let waitingSince = 0; // set after a confirmation: poll until Stripe's word arrives

function payable(p) {
  return (p.status === "pending" || p.status === "action_required") && p.payment && p.payment.client_secret;
}

function cancellable(p, c) {
  return (
    (p.status === "pending" || p.status === "active") && c.status === "live" && Date.parse(c.deadline) > now()
  );
}

async function load() {
  const headers = { "X-Pledge-Token": key.t };
  const [p, c] = await Promise.all([
    api("GET", pledgePath(key.c, key.p), { headers }),
    api("GET", campaignPath(key.c)),
  ]);
  pledge = p.data;
  campaign = c.data;
  await render();
}

async function render() {
  document.title = `Your pledge to ${campaign.title} · cashmob`;
  $("#pledge").hidden = false;
  $("#to").replaceChildren("To ", h("a", { href: campaignUrl(campaign.id) }, campaign.title));
  const state = $("#state");
  let text = describe(pledge, campaign);
  if (waitingSince && (pledge.status === "pending" || pledge.status === "action_required")) {
    text = "Your card is confirmed. Waiting for Stripe's confirmation…";
  }
  if (state.textContent !== text) state.textContent = text;
  state.dataset.status = pledge.status;
  $("#amount").textContent = money(pledge.amount, pledge.currency);
  const fair = chargedOf(pledge) !== pledge.amount;
  fact("charged", fair ? `${money(chargedOf(pledge), pledge.currency)}, the fair share` : "");
  const refunded = refundedOf(pledge);
  fact("refunded", refunded ? money(refunded, pledge.currency) : "");
  fact("condition", conditionText(pledge));
  $("#created").textContent = dateTime(pledge.created_at);
  $("#deadline").textContent = dateTime(campaign.deadline);
  $("#cancel").hidden = !cancellable(pledge, campaign) || Boolean(waitingSince);
  await renderPayment();
}

/** A <dt>/<dd> pair of the facts, shown only with a value. */
function fact(name, text) {
  $(`#${name}`).textContent = text;
  $(`#${name}`).hidden = !text;
  $(`#${name}-term`).hidden = !text;
}

async function renderPayment() {
  const form = $("#pay-form");
  if (!payable(pledge) || waitingSince) {
    form.hidden = true;
    return;
  }
  const finishing = pledge.status === "action_required";
  $("#pay-title").textContent = finishing ? "Finish your payment" : "Confirm your card";
  $("#pay-terms").textContent = finishing
    ? `Pay ${money(pledge.amount, pledge.currency)} now with this card or another one.`
    : "Your pledge counts once your card is confirmed.";
  $("#pay-button").textContent = finishing ? "Finish payment" : "Confirm pledge";
  if (mounted && mounted.clientSecret === pledge.payment.client_secret) {
    form.hidden = false;
    return;
  }
  mounted = await mountPayment($("#payment-element"), pledge.payment);
  const intent = await intentState(mounted);
  if (confirmed(intent)) {
    // Confirmed already (say, this page opened before Stripe's word came).
    waitingSince = Date.now();
    form.hidden = true;
    pollUntilSettled();
    return;
  }
  form.hidden = false;
}

async function submitPayment(event) {
  event.preventDefault();
  const button = $("#pay-button");
  const error = $("#pay-error");
  showError(error, "");
  busy(button, true, "Confirming…");
  try {
    const result = await confirm(mounted, backerUrl(key));
    if (result.error) {
      showError(error, result.error);
      return;
    }
    waitingSince = Date.now();
    await render();
    $("#state").focus();
    await pollUntilSettled();
  } catch (failure) {
    showError(error, failure.message);
  } finally {
    busy(button, false);
  }
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** After a confirmation: ask until the pledge moves on (Stripe's webhook has arrived). */
async function pollUntilSettled() {
  const before = pledge.status;
  await render();
  while (waitingSince && Date.now() - waitingSince < 60000) {
    await pause(1000);
    await load().catch(() => {});
    if (pledge.status !== before) break;
  }
  waitingSince = 0;
  await render();
}

async function cancel() {
  const button = $("#cancel-button");
  const error = $("#cancel-error");
  showError(error, "");
  busy(button, true, "Cancelling…");
  try {
    const { data } = await api("DELETE", pledgePath(key.c, key.p), { headers: { "X-Pledge-Token": key.t } });
    pledge = { ...pledge, ...data, payment: null };
    await render();
    $("#state").focus();
  } catch (failure) {
    showError(error, failure.message);
  } finally {
    busy(button, false);
  }
}

// ---------------------------------------------------------------- the list

async function list() {
  $("#list").hidden = false;
  const mine = rememberedAll().slice(0, 30);
  $("#no-pledges").hidden = mine.length > 0;
  const rows = await Promise.all(
    mine.map(async (k) => {
      try {
        const headers = { "X-Pledge-Token": k.t };
        const [p, c] = await Promise.all([api("GET", pledgePath(k.c, k.p), { headers }), api("GET", campaignPath(k.c))]);
        return h(
          "li",
          { class: "card" },
          h("h2", {}, h("a", { href: backerUrl(k) }, c.data.title)),
          h("p", {}, `${money(p.data.amount, p.data.currency)} · ${SHORT[p.data.status] || p.data.status}`),
        );
      } catch {
        return h("li", { class: "card" }, h("a", { href: backerUrl(k) }, `Pledge ${k.p}`), " (cannot be read now)");
      }
    }),
  );
  $("#pledges").replaceChildren(...rows);
}

// ---------------------------------------------------------------- start

async function start() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const [c, p, t] = ["c", "p", "t"].map((name) => fragment.get(name));
  key = c && p && t ? { c, p, t } : p ? remembered(p) : null;
  $("#state").tabIndex = -1;
  await syncClock();
  try {
    if (!key) {
      await list();
      return;
    }
    remember(key);
    $("#pay-form").addEventListener("submit", submitPayment);
    $("#cancel-button").addEventListener("click", cancel);
    await load();
    if (new URLSearchParams(location.search).get("redirect_status") === "failed") {
      showError($("#pay-error"), "The payment was not completed. Try again or choose another card.");
    }
    every(10000, () => (waitingSince ? null : load().catch(() => {})));
  } catch (failure) {
    const message =
      failure instanceof ApiError && (failure.status === 403 || failure.status === 404)
        ? "This pledge link is not valid: it may be incomplete. Open the link from your receipt email again."
        : failure.message;
    showError($("#page-error"), message);
  } finally {
    $("#loading").remove();
  }
}

window.addEventListener("hashchange", () => location.reload());
start();
