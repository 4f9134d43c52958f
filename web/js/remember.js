// The pledges this browser made: their tokens, kept in localStorage (and in
// the backer page's URL fragment), never sent anywhere but the API's header.
const KEY = "cashmob.pledges";

function read() {
  try {
    return JSON.parse(localStorage.getItem(KEY)) || {};
  } catch {
    return {};
  }
}

export function remember({ c, p, t }) {
  const all = read();
  all[p] = { c, t, saved: new Date().toISOString() };
  try {
    localStorage.setItem(KEY, JSON.stringify(all));
  } catch {
    // Storage full or disabled: the link still works.
  }
}

export function remembered(p) {
  const entry = read()[p];
  return entry ? { c: entry.c, p, t: entry.t } : null;
}

/** Every remembered pledge, newest first. */
export function rememberedAll() {
  return Object.entries(read())
    .sort((a, b) => String(b[1].saved).localeCompare(String(a[1].saved)))
    .map(([p, entry]) => ({ c: entry.c, p, t: entry.t }));
}
