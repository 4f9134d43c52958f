// The snippets an organizer (or a fan) pastes into another site: the widget
// (embed.js) and the SVG badge the API draws.
import config from "../config.js";
import { campaignPath, campaignUrl } from "./api.js";
import { h } from "./ui.js";

const escape = (text) =>
  String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

export function snippets(campaign) {
  const app = new URL(".", location.href).href;
  const page = campaignUrl(campaign.id);
  const badge = `${config.apiBase}${campaignPath(campaign.id)}/badge.svg`;
  return {
    widget: `<script src="${app}embed.js" data-campaign="${escape(campaign.id)}" async></script>`,
    badge: `<a href="${escape(page)}"><img src="${escape(badge)}" alt="${escape(campaign.title)}: progress on cashmob"></a>`,
    badgeUrl: badge,
  };
}

function copyable(id, label, text) {
  const area = h("textarea", { id, readonly: true, rows: 3, spellcheck: "false", class: "code" });
  area.value = text;
  const done = h("span", { class: "hint", role: "status" });
  const copy = h(
    "button",
    {
      type: "button",
      class: "secondary",
      "aria-label": `Copy ${label.toLowerCase()}`,
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(text);
          done.textContent = "Copied.";
        } catch {
          area.select();
          done.textContent = "Selected: press Ctrl+C (or ⌘C) to copy.";
        }
      },
    },
    "Copy",
  );
  return h("div", { class: "field" }, h("label", { for: id }, label), area, h("div", { class: "row" }, copy, done));
}

/** A <details> with both snippets and a preview of the badge. */
export function embedSection(campaign, idPrefix = "embed") {
  const { widget, badge, badgeUrl } = snippets(campaign);
  return h(
    "details",
    { class: "embed" },
    h("summary", {}, "Put this campaign on another site"),
    h("p", { class: "hint" }, "The widget shows live progress and a Pledge button; the badge is a plain image."),
    copyable(`${idPrefix}-widget`, "Widget code", widget),
    copyable(`${idPrefix}-badge`, "Badge code", badge),
    h("p", {}, h("img", { src: badgeUrl, alt: `Badge preview: ${campaign.title}`, class: "badge-preview" })),
  );
}
