// One pledge refunded by its organizer, in full or in part (API.md: POST
// /campaigns/{id}/pledges/{pledge_id}/refund {amount?, reason}): a "Refund"
// button on a collected pledge's row opens a small form in the row below.
import { api, campaignPath } from "./api.js";
import { amountText, money, parseAmount } from "./format.js";
import { busy, h, showError } from "./ui.js";

/** What is left to give back: what was charged (the fair share on a fixed
 * price) less what was refunded already. */
export function refundable(p) {
  if (p.status !== "collected") return 0;
  const charged = typeof p.charged === "number" && p.charged > 0 ? p.charged : p.amount;
  return Math.max(0, charged - (p.refunded_amount || 0));
}

/** [the button, the form's row] for pledge `p` of campaign `c`; `done(pledge)`
 * gets the pledge as the API answers after the refund. */
export function refundControls(c, p, { token, columns, expired, done }) {
  const left = refundable(p);
  const who = p.display_name || p.email || p.id;
  const ids = `refund-${p.id}`;
  const amount = h("input", {
    id: `${ids}-amount`,
    name: "amount",
    inputmode: "decimal",
    autocomplete: "off",
    class: "short",
    "aria-describedby": `${ids}-amount-hint`,
  });
  const reason = h("input", { id: `${ids}-reason`, name: "reason", maxlength: 500, required: true });
  const error = h("div", { class: "error", role: "alert" });
  const send = h("button", { type: "submit", class: "danger" }, "Refund");
  const button = h(
    "button",
    { type: "button", class: "secondary", "aria-expanded": "false", "aria-controls": `${ids}-row`, "aria-label": `Refund ${who}` },
    "Refund…",
  );
  const form = h(
    "form",
    { novalidate: true, "aria-label": `Refund ${who}` },
    h(
      "div",
      { class: "pair" },
      h(
        "div",
        { class: "field" },
        h("label", { for: amount.id }, "Amount to refund"),
        amount,
        h("p", { id: `${ids}-amount-hint`, class: "hint" }, `Empty: all of it, ${money(left, p.currency)}.`),
      ),
      h("div", { class: "field" }, h("label", { for: reason.id }, "Reason"), reason),
    ),
    error,
    h(
      "div",
      { class: "row" },
      send,
      h("button", { type: "button", class: "secondary", onclick: () => toggle(false) }, "Do not refund"),
    ),
  );
  const row = h("tr", { id: `${ids}-row`, class: "refund-row", hidden: true }, h("td", { colspan: columns }, form));

  function toggle(open) {
    row.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    if (open) amount.focus();
    else button.focus();
  }

  async function submit(event) {
    event.preventDefault();
    showError(error, "");
    for (const field of [amount, reason]) field.removeAttribute("aria-invalid");
    const body = { reason: reason.value.trim() };
    if (amount.value.trim()) {
      const minor = parseAmount(amount.value, p.currency);
      if (!minor || minor > left) {
        amount.setAttribute("aria-invalid", "true");
        showError(error, `Enter an amount up to ${money(left, p.currency)}, like ${amountText(Math.min(left, 500), p.currency)}.`);
        amount.focus();
        return;
      }
      body.amount = minor;
    }
    if (!body.reason) {
      reason.setAttribute("aria-invalid", "true");
      showError(error, "Say why you refund this pledge.");
      reason.focus();
      return;
    }
    busy(send, true, "Refunding…");
    try {
      const path = `${campaignPath(c.id)}/pledges/${encodeURIComponent(p.id)}/refund`;
      const { data } = await api("POST", path, { body, token });
      done({ ...p, ...data });
    } catch (failure) {
      if (expired(failure)) return;
      showError(error, `The refund could not be made: ${failure.message}`);
    } finally {
      busy(send, false);
    }
  }

  button.addEventListener("click", () => toggle(row.hidden));
  form.addEventListener("submit", submit);
  return [button, row];
}
