// Small DOM helpers the pages share.

/** An element: h("a", {href, class: "x", onclick: fn}, "text", child, ...). */
export function h(tag, attributes = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      el.className = value;
    } else if (value === true) {
      el.setAttribute(name, "");
    } else {
      el.setAttribute(name, String(value));
    }
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);

/** Puts a message in an alert region (role="alert": announced), or clears it. */
export function showError(region, message) {
  region.textContent = message || "";
}

/** Puts a message in a status region (role="status": announced politely). */
export function showStatus(region, message) {
  region.textContent = message || "";
}

/** Disables a button while work runs and says so on it. */
export function busy(button, isBusy, text) {
  if (isBusy) {
    button.dataset.label ??= button.textContent;
    button.disabled = true;
    if (text) button.textContent = text;
  } else {
    button.disabled = false;
    if (button.dataset.label) button.textContent = button.dataset.label;
    delete button.dataset.label;
  }
}

/** Marks the fields an API 422 names (`details[].field`) and says what is wrong. */
export function markInvalid(form, details, labels) {
  for (const field of form.querySelectorAll("[aria-invalid]")) {
    field.removeAttribute("aria-invalid");
  }
  const problems = [];
  for (const detail of details || []) {
    const name = String(detail.field || "").replace(/^body\./, "");
    // "condition.min_backers" → the form's "condition" field.
    const input = form.elements.namedItem(name) || form.elements.namedItem(name.split(".")[0]);
    if (input && input.setAttribute) input.setAttribute("aria-invalid", "true");
    const label = labels[name] || labels[name.split(".")[0]] || name;
    if (label) problems.push(`${label}: ${detail.problem || detail.message || "not valid"}`);
  }
  return problems;
}

/** A progress bar with a visible caption (label given by `label`). */
export function progressBar(percent, label) {
  return h("progress", {
    class: "bar",
    max: 100,
    value: Math.max(0, Math.min(100, percent)),
    "aria-label": label,
  });
}

/** Calls `fn` now and every `ms` while the page is visible. */
export function every(ms, fn) {
  let timer = null;
  const run = async () => {
    try {
      await fn();
    } finally {
      timer = setTimeout(tick, ms);
    }
  };
  const tick = () => {
    if (document.visibilityState === "visible") run();
    else timer = setTimeout(tick, ms);
  };
  timer = setTimeout(tick, ms);
  return () => clearTimeout(timer);
}
