// Organizer sign-in. In a deployment: OpenID Connect, authorization code with
// PKCE (config.auth), giving the JWT the HttpApi's authorizer checks.
// Locally: "sign in as" anyone through the stack's POST /_local/token.
// The token is kept in sessionStorage: this tab only, gone when it closes.
import config from "../config.js";

const KEY = "cashmob.organizer";
const PENDING = "cashmob.oidc";

function base64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomText(size = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(size)));
}

/** The claims of a JWT (not verified here: the API verifies it). */
export function claims(token) {
  const part = (token.split(".")[1] || "").replace(/-/g, "+").replace(/_/g, "/");
  const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

/** {token, sub, name} or null. */
export function session() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(KEY));
    return saved && saved.token ? saved : null;
  } catch {
    return null;
  }
}

function keep(token) {
  const c = claims(token);
  const saved = { token, sub: c.sub, name: c.email || c.name || c.sub };
  sessionStorage.setItem(KEY, JSON.stringify(saved));
  return saved;
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}

export const isLocal = () => config.auth && config.auth.mode === "local";

/** Local stack only: a token for organizer `sub`. */
export async function signInLocally(sub) {
  const response = await fetch(config.auth.localTokenUrl, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ sub }),
  });
  const data = await response.json();
  if (!response.ok) throw new Error((data.error && data.error.message) || "Sign-in failed.");
  return keep(data.token);
}

async function discovery() {
  const issuer = config.auth.issuer.replace(/\/$/, "");
  const response = await fetch(`${issuer}/.well-known/openid-configuration`);
  if (!response.ok) throw new Error("The sign-in provider could not be reached.");
  return response.json();
}

function redirectUri() {
  return new URL(config.auth.redirectPath || "organizer.html", location.href).href.split("?")[0];
}

/** Sends the browser to the provider (authorization code + PKCE, S256). */
export async function signInWithProvider() {
  const provider = await discovery();
  const verifier = randomText(48);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  const state = randomText(16);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state }));
  const url = new URL(provider.authorization_endpoint);
  const params = {
    response_type: "code",
    client_id: config.auth.clientId,
    redirect_uri: redirectUri(),
    scope: config.auth.scope || "openid",
    state,
    code_challenge: base64url(new Uint8Array(digest)),
    code_challenge_method: "S256",
  };
  if (config.auth.audience) params.audience = config.auth.audience;
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  location.assign(url.href);
}

/** Back from the provider with ?code=&state=: trades the code for the token. */
export async function completeSignIn() {
  const query = new URLSearchParams(location.search);
  if (!query.has("code") && !query.has("error")) return null;
  history.replaceState(null, "", location.pathname);
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
  sessionStorage.removeItem(PENDING);
  if (query.has("error")) throw new Error(query.get("error_description") || "Sign-in was refused.");
  if (!pending || pending.state !== query.get("state")) throw new Error("Sign-in expired. Please try again.");
  const provider = await discovery();
  const response = await fetch(provider.token_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: query.get("code"),
      redirect_uri: redirectUri(),
      client_id: config.auth.clientId,
      code_verifier: pending.verifier,
    }),
  });
  const tokens = await response.json();
  const token = tokens[config.auth.useToken || "id_token"];
  if (!response.ok || !token) throw new Error(tokens.error_description || "Sign-in failed.");
  return keep(token);
}
