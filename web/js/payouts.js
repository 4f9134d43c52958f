// The organizer's "Get paid" section (API.md: GET /organizers/me, POST
// /organizers/me/payouts): payouts through a Stripe Connect account that the
// organizer sets up on Stripe's own onboarding pages. Hidden when the API has
// no such route (payouts off, or an older server).
import { ApiError, api } from "./api.js";
import { $, busy, showError, showStatus } from "./ui.js";

const STATE = {
  none: "Connect a Stripe account to receive the money your campaigns collect. Stripe asks for your details and your bank account on its own pages.",
  onboarding: "Your Stripe account is not finished yet: payouts wait until Stripe has everything it needs.",
  enabled: "Payouts are on: after a campaign succeeds and its collection is complete, the money (less the platform fee) goes to your Stripe account",
};

const BUTTON = {
  none: "Set up payouts with Stripe",
  onboarding: "Continue setting up payouts",
};

/** Shows the section for the signed-in organizer; `onExpired(failure)` is
 * the desk's handler for a 401 on an action (true when it handled it). */
export async function showPayouts(me, onExpired) {
  const section = $("#payouts");
  let answer;
  try {
    answer = (await api("GET", "/organizers/me", { token: me.token })).data;
  } catch (failure) {
    section.hidden = true;
    // No such route (payouts off, an older server), or a token this route
    // refuses: the section stays out of the way and the desk keeps working
    // (an action that needs the token says so when it is taken).
    if (failure instanceof ApiError && [401, 403, 404, 405].includes(failure.status)) return;
    // Something else went wrong: say so, but keep the rest of the desk working.
    section.hidden = false;
    $("#payouts-state").textContent = "";
    $("#payouts-button").hidden = true;
    showError($("#payouts-error"), `Your payout settings could not be loaded: ${failure.message}`);
    return;
  }
  const payouts = (answer && answer.payouts) || { status: "none", account_id: null };
  if (payouts.available === false) {
    // This platform keeps the money (payouts off): nothing to set up.
    section.hidden = true;
    return;
  }
  const status = STATE[payouts.status] ? payouts.status : "none";
  section.hidden = false;
  showError($("#payouts-error"), "");
  $("#payouts-state").textContent =
    status === "enabled" ? `${STATE.enabled}${payouts.account_id ? ` (${payouts.account_id})` : ""}.` : STATE[status];
  const button = $("#payouts-button");
  button.hidden = status === "enabled";
  button.textContent = BUTTON[status] || BUTTON.none;
  button.onclick = () => onboard(me, onExpired);
}

async function onboard(me, onExpired) {
  const button = $("#payouts-button");
  const error = $("#payouts-error");
  showError(error, "");
  busy(button, true, "Opening Stripe…");
  try {
    // Stripe sends the organizer back here when onboarding ends.
    const returnUrl = location.href.split("#")[0];
    const { data } = await api("POST", "/organizers/me/payouts", { body: { return_url: returnUrl }, token: me.token });
    showStatus($("#payouts-status"), "Opening Stripe's onboarding…");
    location.assign(data.url);
  } catch (failure) {
    if (onExpired(failure)) return;
    const off = failure instanceof ApiError && [404, 405, 409].includes(failure.status);
    if (off) {
      // Payouts are off on this platform (409) or not built (404): no button to press again.
      $("#payouts-state").textContent = "";
      button.hidden = true;
    }
    showError(
      error,
      off
        ? `Payouts are not available here: ${failure.status === 409 ? failure.message : "this server has no payouts."}`
        : `Stripe's onboarding could not be opened: ${failure.message}`,
    );
  } finally {
    busy(button, false);
  }
}
