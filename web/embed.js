/*
 * cashmob's embeddable widget. Paste where the card should appear:
 *
 *   <script src="https://YOUR-SITE/embed.js" data-campaign="cmp_…" async></script>
 *
 * It puts an iframe with the campaign's progress and a "Pledge" link (to the
 * campaign page) right after the tag. The iframe comes from the same place
 * as this file, so it works on a page of any origin.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) {
    return;
  }
  var campaign = script.getAttribute("data-campaign") || "";
  if (!/^cmp_[A-Za-z0-9_-]+$/.test(campaign)) {
    console.error("cashmob embed.js: set data-campaign to a campaign id (cmp_…).");
    return;
  }
  var page = new URL("widget.html", script.src);
  page.searchParams.set("c", campaign);
  var frame = document.createElement("iframe");
  frame.src = page.href;
  frame.title = "cashmob campaign progress";
  frame.loading = "lazy";
  frame.setAttribute("data-cashmob-campaign", campaign);
  frame.style.cssText =
    "display:block;width:100%;max-width:380px;height:220px;border:0;border-radius:12px;color-scheme:light";
  script.insertAdjacentElement("afterend", frame);
  window.addEventListener("message", function (event) {
    var data = event.data;
    if (event.source !== frame.contentWindow || !data || data.type !== "cashmob:widget") {
      return;
    }
    if (data.height > 0 && data.height < 2000) {
      frame.style.height = data.height + "px";
    }
    if (typeof data.title === "string" && data.title) {
      frame.title = data.title.slice(0, 200);
    }
  });
})();
