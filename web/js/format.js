// Money, times and statuses in words. Money is integer minor units (API.md).

const ZERO_DECIMAL = new Set([
  "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
]);

/** Digits after the decimal point in the currency (Stripe's zero-decimal list). */
export function digits(currency) {
  return ZERO_DECIMAL.has(String(currency).toLowerCase()) ? 0 : 2;
}

function formatter(currency) {
  const d = digits(currency);
  return new Intl.NumberFormat(undefined, {
    style: "currency",
    currency: String(currency).toUpperCase(),
    minimumFractionDigits: d,
    maximumFractionDigits: d,
  });
}

/** 2500 gbp → "£25.00"; 500 jpy → "¥500". */
export function money(amount, currency) {
  if (amount === null || amount === undefined) return "hidden";
  return formatter(currency).format(amount / 10 ** digits(currency));
}

/** The currency's sign as the reader's locale writes it ("£", "€", "CA$"). */
export function symbol(currency) {
  const part = formatter(currency).formatToParts(0).find((p) => p.type === "currency");
  return part ? part.value : String(currency).toUpperCase();
}

/** "25", "25.5", "1,000.00" or "25,50" → minor units (2550); null if it is not an amount. */
export function parseAmount(text, currency) {
  let value = String(text).trim().replace(/[\s\u00a0']/g, "");
  if (/^\d+,\d{1,2}$/.test(value)) value = value.replace(",", ".");
  else value = value.replace(/,(?=\d{3}(\D|$))/g, "");
  const d = digits(currency);
  const match = d === 0 ? /^(\d+)$/.exec(value) : /^(\d*)(?:\.(\d{0,2}))?$/.exec(value);
  if (!match || !(match[1] || match[2])) return null;
  const major = Number(match[1] || "0");
  const minor = d === 0 ? 0 : Number((match[2] || "").padEnd(2, "0"));
  const amount = major * 10 ** d + minor;
  return Number.isSafeInteger(amount) ? amount : null;
}

/** Minor units back to what a person types: 2550 gbp → "25.50". */
export function amountText(amount, currency) {
  const d = digits(currency);
  return d === 0 ? String(amount) : (amount / 100).toFixed(2);
}

export function dateTime(iso) {
  return new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

export function backers(n) {
  return plural(n, "backer");
}

/** "3 days 4 hours left", "12 minutes 5 seconds left", or "Ended". */
export function countdown(deadlineIso, nowMs) {
  let seconds = Math.floor((Date.parse(deadlineIso) - nowMs) / 1000);
  if (seconds <= 0) return "Ended";
  const days = Math.floor(seconds / 86400);
  seconds -= days * 86400;
  const hours = Math.floor(seconds / 3600);
  seconds -= hours * 3600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  if (days > 0) return `${plural(days, "day")} ${plural(hours, "hour")} left`;
  if (hours > 0) return `${plural(hours, "hour")} ${plural(minutes, "minute")} left`;
  return `${plural(minutes, "minute")} ${plural(seconds, "second")} left`;
}

/** "5 minutes ago", "2 days ago". */
export function ago(iso, nowMs) {
  const seconds = Math.max(0, Math.floor((nowMs - Date.parse(iso)) / 1000));
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${plural(Math.floor(seconds / 60), "minute")} ago`;
  if (seconds < 86400) return `${plural(Math.floor(seconds / 3600), "hour")} ago`;
  return `${plural(Math.floor(seconds / 86400), "day")} ago`;
}

export const CAMPAIGN_STATUS = {
  live: "Live",
  settling: "Deadline passed: settling",
  succeeded: "Succeeded",
  failed: "Did not reach its goal",
  cancelled: "Cancelled by the organizer",
  refunding: "Refunding every backer",
  refunded: "Refunded",
};

export const FUNDING_MODEL = {
  all_or_nothing: "All or nothing: cards are charged only if the goal is reached by the deadline.",
  keep_what_you_raise: "Keep what you raise: every pledge is collected at the deadline.",
  fixed_price:
    "Fixed price: charged only if the goal is reached; if the crowd overshoots, each backer pays a fair share of the price.",
};
