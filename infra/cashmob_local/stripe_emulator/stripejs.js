/*
 * Stripe.js v3 — the stand-in served by cashmob's Stripe emulator at /v3/.
 *
 * The calls of the real Stripe.js that a page makes to take a card with the
 * Payment Element, and nothing else: Stripe(publishableKey),
 * stripe.elements({clientSecret}), elements.create("payment"),
 * element.mount(), element.on(), stripe.confirmSetup(),
 * stripe.confirmPayment(), stripe.retrieveSetupIntent(),
 * stripe.retrievePaymentIntent(). It calls the emulator that served it the
 * way Stripe.js calls api.stripe.com: with the publishable key and the
 * intent's client secret. The card field is a choice of Stripe's test cards;
 * a card that asks for 3-D Secure opens a test page with a pass and a fail
 * button. A page written for it runs unchanged on https://js.stripe.com/v3/.
 */
(function () {
  "use strict";
  if (window.Stripe) {
    return;
  }
  var here = document.currentScript ? document.currentScript.src : location.href;
  var API = new URL(here).origin;
  var CARDS = __CARDS__;
  var PREFIX = "stripe-emulator";
  var uid = 0;

  function integrationError(message) {
    var error = new Error(message);
    error.name = "IntegrationError";
    return error;
  }

  function parseSecret(secret, method) {
    var match = /^((seti|pi)_[A-Za-z0-9]+)_secret_[A-Za-z0-9]+$/.exec(secret || "");
    if (!match) {
      throw integrationError(
        "Invalid value for " + method + ": clientSecret should be a client secret of the form " +
          "${id}_secret_${secret}. You specified: " + secret + "."
      );
    }
    return { id: match[1], kind: match[2] === "seti" ? "setup_intent" : "payment_intent" };
  }

  // a[b][c]=v, as Stripe's API takes nested parameters.
  function flatten(params, prefix, out) {
    out = out || new URLSearchParams();
    Object.keys(params).forEach(function (name) {
      var value = params[name];
      var key = prefix ? prefix + "[" + name + "]" : name;
      if (value === undefined || value === null) {
        return;
      }
      if (typeof value === "object") {
        flatten(value, key, out);
      } else {
        out.append(key, String(value));
      }
    });
    return out;
  }

  async function call(method, path, params) {
    var body = flatten(params);
    var url = API + path + (method === "GET" ? "?" + body : "");
    try {
      var response = await fetch(url, method === "GET" ? {} : { method: method, body: body });
      var json = await response.json();
      return { ok: response.ok, json: json };
    } catch (_) {
      return {
        ok: false,
        json: {
          error: {
            type: "api_connection_error",
            message: "We could not reach Stripe. Check your connection and try again.",
          },
        },
      };
    }
  }

  var STYLE = [
    "." + PREFIX + "-field{display:grid;gap:.35rem;font:inherit;color:inherit}",
    "." + PREFIX + "-field label{font-weight:600}",
    "." + PREFIX + "-field select{font:inherit;font-size:1rem;padding:.6rem .5rem;border:1px solid #5b6270;" +
      "border-radius:6px;background:#fff;color:#1a1a1a;max-width:100%}",
    "." + PREFIX + "-field select:focus-visible{outline:3px solid #0a58ca;outline-offset:2px}",
    "." + PREFIX + "-field select[aria-invalid=true]{border-color:#b3261e}",
    "." + PREFIX + "-note{margin:0;font-size:.875rem;color:#4a4f57}",
    "." + PREFIX + "-error{margin:0;font-size:.875rem;color:#b3261e}",
    "." + PREFIX + "-dialog{border:1px solid #5b6270;border-radius:10px;padding:1.25rem;max-width:22rem;" +
      "width:calc(100% - 2rem);color:#1a1a1a;background:#fff;font:16px/1.5 system-ui,sans-serif}",
    "." + PREFIX + "-dialog::backdrop{background:rgba(0,0,0,.55)}",
    "." + PREFIX + "-dialog h2{font-size:1.15rem;margin:0 0 .5rem}",
    "." + PREFIX + "-dialog p{margin:0 0 1rem}",
    "." + PREFIX + "-dialog div{display:flex;flex-wrap:wrap;gap:.5rem}",
    "." + PREFIX + "-dialog button{font:inherit;padding:.55rem .9rem;border-radius:6px;cursor:pointer;" +
      "border:1px solid #1a1a1a;background:#fff;color:#1a1a1a}",
    "." + PREFIX + "-dialog button." + PREFIX + "-pass{background:#146c2e;border-color:#146c2e;color:#fff}",
    "." + PREFIX + "-dialog button:focus-visible{outline:3px solid #0a58ca;outline-offset:2px}",
  ].join("\n");

  function injectStyle() {
    if (document.getElementById(PREFIX + "-style")) {
      return;
    }
    var style = document.createElement("style");
    style.id = PREFIX + "-style";
    style.textContent = STYLE;
    document.head.appendChild(style);
  }

  function node(tag, attributes, text) {
    var el = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      el.setAttribute(name, attributes[name]);
    });
    if (text) {
      el.textContent = text;
    }
    return el;
  }

  function money(amount, currency) {
    try {
      var format = new Intl.NumberFormat(undefined, { style: "currency", currency: currency });
      var digits = format.resolvedOptions().maximumFractionDigits;
      return format.format(amount / Math.pow(10, digits));
    } catch (_) {
      return amount + " " + currency;
    }
  }

  // Stripe's 3-D Secure 2 test page: the backer passes or fails the bank's check.
  function challenge(intent) {
    injectStyle();
    return new Promise(function (resolve) {
      var n = ++uid;
      var dialog = node("dialog", {
        class: PREFIX + "-dialog",
        "aria-labelledby": PREFIX + "-3ds-title-" + n,
        "aria-describedby": PREFIX + "-3ds-text-" + n,
      });
      var what =
        intent.object === "payment_intent"
          ? "a payment of " + money(intent.amount, intent.currency)
          : "saving this card for later payments";
      dialog.appendChild(node("h2", { id: PREFIX + "-3ds-title-" + n }, "3D Secure 2 Test Page"));
      dialog.appendChild(
        node(
          "p",
          { id: PREFIX + "-3ds-text-" + n },
          "Your bank asks you to confirm " + what + ". This test page stands in for it: choose the outcome."
        )
      );
      var buttons = node("div");
      var pass = node("button", { type: "button", class: PREFIX + "-pass" }, "Complete authentication");
      var fail = node("button", { type: "button" }, "Fail authentication");
      buttons.appendChild(pass);
      buttons.appendChild(fail);
      dialog.appendChild(buttons);
      var previous = document.activeElement;
      var done = function (passed) {
        dialog.close();
        dialog.remove();
        if (previous && previous.focus) {
          previous.focus();
        }
        resolve(passed);
      };
      pass.addEventListener("click", function () {
        done(true);
      });
      fail.addEventListener("click", function () {
        done(false);
      });
      dialog.addEventListener("cancel", function (event) {
        event.preventDefault();
        done(false); // closing the bank's window fails the authentication
      });
      document.body.appendChild(dialog);
      dialog.showModal();
      pass.focus();
    });
  }

  function PaymentElement(elements, options) {
    var self = this;
    var handlers = {};
    var n = ++uid;
    var root = null;
    var select = null;
    var message = null;
    var mounted = false;

    function emit(type, event) {
      (handlers[type] || []).slice().forEach(function (handler) {
        handler(Object.assign({ elementType: "payment" }, event || {}));
      });
    }

    function changed() {
      showError(null);
      emit("change", {
        empty: !select.value,
        complete: !!select.value,
        collapsed: false,
        value: { type: "card" },
      });
    }

    function showError(text) {
      if (!message) {
        return;
      }
      message.textContent = text || "";
      message.hidden = !text;
      if (text) {
        select.setAttribute("aria-invalid", "true");
      } else {
        select.removeAttribute("aria-invalid");
      }
    }

    this._value = function () {
      return select ? select.value : "";
    };
    this._showError = showError;
    this._busy = function (busy) {
      if (select) {
        select.disabled = busy;
      }
    };

    this.mount = function (target) {
      var container = typeof target === "string" ? document.querySelector(target) : target;
      if (!container) {
        throw integrationError("The selector you specified (" + target + ") applies to no DOM elements.");
      }
      if (mounted) {
        throw integrationError("This Element is already mounted. Use `unmount` to unmount the Element.");
      }
      injectStyle();
      root = node("div", { class: PREFIX + "-field" });
      var id = PREFIX + "-card-" + n;
      root.appendChild(node("label", { for: id }, "Test card"));
      select = node("select", {
        id: id,
        name: "card",
        autocomplete: "off",
        "aria-describedby": PREFIX + "-note-" + n + " " + PREFIX + "-error-" + n,
      });
      select.appendChild(node("option", { value: "" }, "Choose a test card"));
      CARDS.forEach(function (card) {
        select.appendChild(node("option", { value: card.id }, card.label));
      });
      select.addEventListener("change", changed);
      select.addEventListener("focus", function () {
        emit("focus");
      });
      select.addEventListener("blur", function () {
        emit("blur");
      });
      root.appendChild(select);
      message = node("p", { id: PREFIX + "-error-" + n, class: PREFIX + "-error" });
      message.hidden = true;
      root.appendChild(message);
      root.appendChild(
        node(
          "p",
          { id: PREFIX + "-note-" + n, class: PREFIX + "-note" },
          "Stripe test mode on this machine: pick one of Stripe's test cards. No real card is used."
        )
      );
      container.replaceChildren(root);
      mounted = true;
      // As the real element loads its session: the client secret must be good.
      call("GET", "/v1/" + elements._intent.kind + "s/" + elements._intent.id, {
        key: elements._key,
        client_secret: elements._clientSecret,
      }).then(function (answer) {
        if (!mounted) {
          return;
        }
        if (answer.ok) {
          emit("ready");
        } else {
          showError(answer.json.error.message);
          emit("loaderror", { error: answer.json.error });
        }
      });
      return self;
    };
    this.unmount = function () {
      if (root) {
        root.remove();
      }
      mounted = false;
    };
    this.destroy = function () {
      self.unmount();
      elements._payment = null;
    };
    this.on = function (type, handler) {
      (handlers[type] = handlers[type] || []).push(handler);
      return self;
    };
    this.once = function (type, handler) {
      var wrapped = function (event) {
        self.off(type, wrapped);
        handler(event);
      };
      return self.on(type, wrapped);
    };
    this.off = function (type, handler) {
      handlers[type] = (handlers[type] || []).filter(function (h) {
        return handler && h !== handler;
      });
      return self;
    };
    this.focus = function () {
      if (select) {
        select.focus();
      }
    };
    this.blur = function () {
      if (select) {
        select.blur();
      }
    };
    this.clear = function () {
      if (select) {
        select.value = "";
        changed();
      }
    };
    this.update = function () {};
    this.collapse = function () {};
    void options;
  }

  function Elements(key, options) {
    options = options || {};
    if (!options.clientSecret) {
      throw integrationError(
        "This stand-in for Stripe.js supports elements({clientSecret}) only: pass the " +
          "SetupIntent's or PaymentIntent's client secret."
      );
    }
    this._key = key;
    this._clientSecret = options.clientSecret;
    this._intent = parseSecret(options.clientSecret, "elements()");
    this._payment = null;
    var self = this;
    this.create = function (type, elementOptions) {
      if (type !== "payment") {
        throw integrationError(
          "This stand-in for Stripe.js offers the Payment Element only (create(\"payment\")), not " + type + "."
        );
      }
      if (self._payment) {
        throw integrationError("Can only create one Element of type payment.");
      }
      self._payment = new PaymentElement(self, elementOptions);
      return self._payment;
    };
    this.getElement = function (type) {
      return type === "payment" ? self._payment : null;
    };
    this.update = function () {};
    this.fetchUpdates = function () {
      return Promise.resolve({});
    };
    this.submit = function () {
      if (self._payment && !self._payment._value()) {
        var error = incomplete();
        self._payment._showError(error.message);
        return Promise.resolve({ error: error });
      }
      return Promise.resolve({});
    };
  }

  function incomplete() {
    return { type: "validation_error", code: "incomplete_number", message: "Your card number is incomplete." };
  }

  function withResult(url, intent, kind) {
    var target = new URL(url, location.href);
    target.searchParams.set(kind, intent.id);
    target.searchParams.set(kind + "_client_secret", intent.client_secret);
    target.searchParams.set("redirect_status", intent.status === "requires_payment_method" ? "failed" : "succeeded");
    return target.toString();
  }

  function Stripe(publishableKey, options) {
    if (typeof publishableKey !== "string" || !/^pk_/.test(publishableKey)) {
      throw integrationError(
        "Invalid value for Stripe(): apiKey should be a publishable key (pk_...). You specified: " +
          publishableKey + "."
      );
    }
    void options;
    var key = publishableKey;

    async function confirm(kind, method, options) {
      options = options || {};
      var elements = options.elements;
      var params = Object.assign({}, options.confirmParams || {});
      var secret = options.clientSecret || (elements && elements._clientSecret);
      if (!secret) {
        throw integrationError(method + "(): pass the `elements` used to create the Payment Element.");
      }
      var intent = parseSecret(secret, method);
      if (intent.kind !== kind) {
        throw integrationError(
          method + "(): this client secret belongs to a " + intent.kind.replace("_", " ") + "; use " +
            (intent.kind === "setup_intent" ? "confirmSetup" : "confirmPayment") + "."
        );
      }
      var redirect = options.redirect || "always";
      if (redirect !== "always" && redirect !== "if_required") {
        throw integrationError(method + "(): redirect must be \"always\" or \"if_required\".");
      }
      if (redirect === "always" && !params.return_url) {
        throw integrationError(
          method + "(): the `confirmParams.return_url` argument is required unless passing `redirect: 'if_required'`."
        );
      }
      var element = elements && elements._payment;
      var paymentMethod = params.payment_method || (element && element._value());
      if (!paymentMethod) {
        var error = incomplete();
        if (element) {
          element._showError(error.message);
        }
        return { error: error };
      }
      delete params.payment_method;
      if (element) {
        element._busy(true);
      }
      try {
        var form = Object.assign(params, {
          payment_method: paymentMethod,
          use_stripe_sdk: "true",
          key: key,
          client_secret: secret,
        });
        var answer = await call("POST", "/v1/" + kind + "s/" + intent.id + "/confirm", form);
        if (!answer.ok) {
          return { error: answer.json.error };
        }
        var result = answer.json;
        if (result.status === "requires_action" && result.next_action && result.next_action.type === "use_stripe_sdk") {
          var passed = await challenge(result);
          var verdict = await call("POST", "/v3/authenticate", {
            key: key,
            client_secret: secret,
            outcome: passed ? "complete" : "fail",
          });
          if (!verdict.ok) {
            return { error: verdict.json.error };
          }
          result = verdict.json;
          var failure = result.last_setup_error || result.last_payment_error;
          if (result.status === "requires_payment_method" && failure) {
            var out = Object.assign({}, failure);
            out[kind] = result;
            return { error: out };
          }
        }
        if (redirect === "always") {
          location.assign(withResult(params.return_url, result, kind));
          return new Promise(function () {});
        }
        return kind === "setup_intent" ? { setupIntent: result } : { paymentIntent: result };
      } finally {
        if (element) {
          element._busy(false);
        }
      }
    }

    async function retrieve(kind, method, secret) {
      var intent = parseSecret(secret, method);
      var answer = await call("GET", "/v1/" + kind + "s/" + intent.id, { key: key, client_secret: secret });
      if (!answer.ok) {
        return { error: answer.json.error };
      }
      return kind === "setup_intent" ? { setupIntent: answer.json } : { paymentIntent: answer.json };
    }

    return {
      elements: function (elementsOptions) {
        return new Elements(key, elementsOptions);
      },
      confirmSetup: function (options) {
        return confirm("setup_intent", "stripe.confirmSetup", options);
      },
      confirmPayment: function (options) {
        return confirm("payment_intent", "stripe.confirmPayment", options);
      },
      retrieveSetupIntent: function (clientSecret) {
        return retrieve("setup_intent", "stripe.retrieveSetupIntent", clientSecret);
      },
      retrievePaymentIntent: function (clientSecret) {
        return retrieve("payment_intent", "stripe.retrievePaymentIntent", clientSecret);
      },
    };
  }

  Stripe.version = 3;
  window.Stripe = Stripe;
})();
