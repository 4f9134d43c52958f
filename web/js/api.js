// The cashmob HTTP API (API.md), from the browser.
import config from "../config.js";

export class ApiError extends Error {
  constructor(status, code, message, details = null, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfter = retryAfter;
  }

  /** Worth trying again with the same request (and Idempotency-Key). */
  get transient() {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

const FALLBACK = {
  0: "We could not reach cashmob. Check your connection and try again.",
  401: "Please sign in again.",
  403: "You are not allowed to do that.",
  404: "Not found.",
  409: "That cannot be done now.",
  413: "That is too long.",
  422: "Some fields are not valid.",
  429: "Too many requests right now. Try again in a moment.",
};

export async function api(method, path, { body, headers = {}, token } = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  if (token) init.headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(config.apiBase + path, init);
  } catch {
    throw new ApiError(0, "network", FALLBACK[0]);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    const message = error.message || FALLBACK[response.status] || `The server answered ${response.status}.`;
    throw new ApiError(
      response.status,
      error.code || `http_${response.status}`,
      message,
      error.details || null,
      Number(response.headers.get("Retry-After")) || null,
    );
  }
  return { status: response.status, data, headers: response.headers };
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** `api` again, with the same request, while the failure is transient (up to `tries`). */
export async function retrying(method, path, options, tries = 4) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await api(method, path, options);
    } catch (error) {
      if (!(error instanceof ApiError) || !error.transient || attempt >= tries) throw error;
      await pause(error.retryAfter ? error.retryAfter * 1000 : 400 * 2 ** attempt);
    }
  }
}

export const campaignPath = (id) => `/campaigns/${encodeURIComponent(id)}`;
export const pledgePath = (c, p) => `${campaignPath(c)}/pledges/${encodeURIComponent(p)}`;

/** Where a campaign's page lives, next to the current page. */
export function campaignUrl(id) {
  return new URL(`./?c=${encodeURIComponent(id)}`, location.href).href;
}

/** The backer's page of a pledge: the token rides in the fragment, never sent to a server. */
export function backerUrl({ c, p, t }) {
  const url = new URL("pledge.html", location.href);
  url.hash = new URLSearchParams({ c, p, t }).toString();
  return url.href;
}
