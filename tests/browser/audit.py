"""Checks run inside a page: text contrast (WCAG 2.x: 4.5:1, 3:1 for large
text), controls without an accessible name, and content wider than the
viewport."""

CONTRAST = r"""
() => {
  const parse = (c) => {
    const m = /rgba?\(([^)]+)\)/.exec(c);
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const lum = ({ r, g, b }) => {
    const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const over = (top, bottom) => ({
    r: top.r * top.a + bottom.r * (1 - top.a),
    g: top.g * top.a + bottom.g * (1 - top.a),
    b: top.b * top.a + bottom.b * (1 - top.a),
    a: 1,
  });
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const bg = parse(getComputedStyle(e).backgroundColor);
      if (bg && bg.a > 0) {
        layers.push(bg);
        if (bg.a >= 1) break;
      }
    }
    return layers.reverse().reduce((under, layer) => over(layer, under), { r: 255, g: 255, b: 255, a: 1 });
  };
  const failures = [];
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const text = walker.currentNode.textContent.trim();
    const el = walker.currentNode.parentElement;
    if (!text || seen.has(el)) continue;
    seen.add(el);
    if (el.closest("[hidden], .visually-hidden, option, script, style, noscript, title")) continue;
    const style = getComputedStyle(el);
    if (style.visibility === "hidden" || !el.getClientRects().length) continue;
    const bg = background(el);
    const fg = over(parse(style.color), bg);
    const ratio = (Math.max(lum(fg), lum(bg)) + 0.05) / (Math.min(lum(fg), lum(bg)) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (Number(style.fontWeight) >= 700 && size >= 18.66);
    if (ratio < (large ? 3 : 4.5)) failures.push(`${el.tagName} "${text.slice(0, 40)}": ${ratio.toFixed(2)}:1`);
  }
  return failures;
}
"""

UNNAMED = r"""
() => Array.from(document.querySelectorAll("input, select, textarea, button, a[href], summary, iframe"))
  .filter((el) => el.getClientRects().length && !el.closest("[hidden]"))
  .filter((el) => {
    const labelled = el.labels && el.labels.length;
    const aria = el.getAttribute("aria-label") || el.getAttribute("aria-labelledby") || el.getAttribute("title");
    const text = el.tagName !== "INPUT" && el.tagName !== "SELECT" && el.tagName !== "TEXTAREA" && el.textContent.trim();
    return !(labelled || aria || text);
  })
  .map((el) => el.outerHTML.slice(0, 80))
"""

OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"


def audit(page) -> dict[str, object]:
    """What is wrong on the page as it is now (empty lists and 0 when nothing)."""
    return {
        "low contrast": page.evaluate(CONTRAST),
        "unnamed controls": page.evaluate(UNNAMED),
        "overflow px": max(0, page.evaluate(OVERFLOW)),
    }


CLEAN = {"low contrast": [], "unnamed controls": [], "overflow px": 0}
