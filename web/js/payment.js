// Stripe.js, used as Stripe documents it: the Payment Element mounted with the
// intent's client secret, then confirmSetup or confirmPayment with
// redirect: "if_required". config.stripeJsUrl says where Stripe.js comes from.
import config from "../config.js";

let loading = null;

/** Loads Stripe.js once (as @stripe/stripe-js's loadStripe does) and gives `Stripe`. */
export function loadStripe() {
  if (window.Stripe) return Promise.resolve(window.Stripe);
  loading ??= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = config.stripeJsUrl;
    script.onload = () => (window.Stripe ? resolve(window.Stripe) : reject(new Error("Stripe.js did not load.")));
    script.onerror = () => {
      loading = null;
      reject(new Error("Stripe.js could not be loaded. Check your connection and try again."));
    };
    document.head.append(script);
  });
  return loading;
}

/** A SetupIntent's secret (save the card) or a PaymentIntent's (hold or pay)? */
export const isSetup = (clientSecret) => clientSecret.startsWith("seti_");

/** Mounts the Payment Element for `payment` ({client_secret, publishable_key}) in `container`. */
export async function mountPayment(container, payment) {
  const Stripe = await loadStripe();
  const stripe = Stripe(payment.publishable_key || config.stripePublishableKey);
  const clientSecret = payment.client_secret;
  const elements = stripe.elements({
    clientSecret,
    appearance: { theme: "stripe", variables: { colorPrimary: "#0a58ca", colorDanger: "#b3261e" } },
  });
  const element = elements.create("payment");
  element.mount(container);
  return { stripe, elements, element, clientSecret };
}

/** The intent's current state, from Stripe ({status, ...}), or null if it cannot be read. */
export async function intentState(mounted) {
  const { stripe, clientSecret } = mounted;
  const result = isSetup(clientSecret)
    ? await stripe.retrieveSetupIntent(clientSecret)
    : await stripe.retrievePaymentIntent(clientSecret);
  return result.error ? null : result.setupIntent || result.paymentIntent;
}

/** Confirms what the backer chose: {intent} or {error: a sentence for the backer}. */
export async function confirm(mounted, returnUrl) {
  const { stripe, elements, clientSecret } = mounted;
  const options = { elements, confirmParams: { return_url: returnUrl }, redirect: "if_required" };
  const result = isSetup(clientSecret) ? await stripe.confirmSetup(options) : await stripe.confirmPayment(options);
  if (result.error) return { error: explain(result.error) };
  return { intent: result.setupIntent || result.paymentIntent };
}

/** Stripe's error as a sentence a backer can act on. */
export function explain(error) {
  const code = error.code || "";
  if (code.endsWith("_authentication_failure")) {
    return "Your bank could not confirm it was you (3-D Secure failed). Try again or choose another card.";
  }
  if (error.type === "card_error") {
    return `${error.message || "Your card was declined."} Nothing was recorded; choose another card.`;
  }
  if (error.type === "validation_error") {
    return error.message || "Please complete your card details.";
  }
  return `The payment could not be completed: ${error.message || "an unexpected error occurred"}.`;
}

/** An intent status that means the card is confirmed (saved, held or paid). */
export function confirmed(intent) {
  return ["succeeded", "requires_capture", "processing"].includes(intent && intent.status);
}
