// The embeddable widget's card (widget.html?c=cmp_…), shown in an iframe by
// embed.js on any site: progress and a "Pledge" link to the campaign page.
import { api, campaignPath, campaignUrl } from "./api.js";
import { now, syncClock } from "./clock.js";
import { CAMPAIGN_STATUS, backers, countdown, money } from "./format.js";
import { $, every, showError } from "./ui.js";

const id = new URLSearchParams(location.search).get("c");

function tellParent(title) {
  if (window.parent === window) return;
  const height = Math.ceil(document.documentElement.getBoundingClientRect().height);
  window.parent.postMessage({ type: "cashmob:widget", campaign: id, height, title }, "*");
}

function render(c) {
  $("#title").textContent = c.title;
  $("#bar").hidden = false;
  $("#bar").value = Math.min(100, c.percent_funded);
  $("#numbers").textContent =
    `${money(c.pledged.amount, c.pledged.currency)} of ${money(c.goal.amount, c.goal.currency)} · ` +
    `${backers(c.pledged.backers)} · ${c.percent_funded}%`;
  const open = c.status === "live" && Date.parse(c.deadline) > now();
  $("#left").textContent = open ? countdown(c.deadline, now()) : CAMPAIGN_STATUS[c.status] || c.status;
  const link = $("#pledge");
  link.href = campaignUrl(c.id);
  link.textContent = open ? "Pledge" : "See the campaign";
  link.hidden = false;
  $("#widget").setAttribute("aria-busy", "false");
  tellParent(`${c.title}: campaign progress`);
}

async function load() {
  const { data } = await api("GET", campaignPath(id));
  render(data);
}

async function start() {
  await syncClock();
  try {
    if (!id) throw new Error("No campaign given (data-campaign).");
    await load();
    every(30000, () => load().catch(() => {}));
  } catch (failure) {
    $("#title").textContent = "Campaign unavailable";
    showError($("#error"), failure.message);
    $("#widget").setAttribute("aria-busy", "false");
    tellParent("cashmob campaign");
  }
}

new ResizeObserver(() => tellParent()).observe(document.documentElement);
start();
