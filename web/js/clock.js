// The server's idea of now. Locally the stack's clock can be moved forward
// (POST /_local/clock); config.clockUrl lets countdowns follow it.
import config from "../config.js";

let offset = 0;

export async function syncClock() {
  if (!config.clockUrl) return;
  try {
    const sent = Date.now();
    const response = await fetch(config.clockUrl);
    const { now } = await response.json();
    offset = Date.parse(now) - (sent + Date.now()) / 2;
  } catch {
    offset = 0;
  }
}

export function now() {
  return Date.now() + offset;
}
