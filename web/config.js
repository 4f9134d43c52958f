// The front end's one configuration file. Edit it for your deployment; every
// page reads it. (`cashmob local` serves its own at /app/config.js, written
// for that stack: its API, the emulator's Stripe.js, local sign-in.)
export default {
  // The HttpApi's URL (template.yaml output `ApiUrl`), without a trailing slash.
  apiBase: "https://api.example.org",

  // Your Stripe publishable key (pk_live_… or pk_test_…); the API also sends
  // it with each pledge's payment, and that one wins if they differ.
  stripePublishableKey: "pk_test_replace_me",

  // Where Stripe.js comes from. Stripe requires this exact URL in production.
  stripeJsUrl: "https://js.stripe.com/v3/",

  // Organizer sign-in: OpenID Connect, authorization code with PKCE. The
  // token it yields must be one the HttpApi's JWT authorizer accepts: its
  // issuer is the template's JwtIssuer, its audience JwtAudience.
  auth: {
    mode: "oidc",
    providerName: "your account",
    issuer: "https://login.example.org", // /.well-known/openid-configuration is read from here
    clientId: "cashmob-web",
    scope: "openid email",
    redirectPath: "organizer.html", // register <this site>/organizer.html as a redirect URI
    useToken: "id_token", // or "access_token", whichever carries JwtAudience
    audience: null, // some providers (Auth0) need it to issue an access token for the API
  },

  // Only `cashmob local` sets this: the stack's movable clock, so that
  // countdowns agree with it.
  clockUrl: null,
};
