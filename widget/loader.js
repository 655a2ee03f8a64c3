/*
 * support-chat widget loader. A classic script: embed it with
 *   <link rel="stylesheet" href="https://HOST/public/v1/support/widget.css">
 *   <script src="https://HOST/public/v1/support/widget.js" defer></script>
 * (`async` works too). It defines `window.SupportChat` at once, waits for the
 * page's `load` event, then builds the widget's host element and shadow root
 * and starts the wasm widget from the same folder as itself. Including it
 * twice mounts one widget. See widget/README.md.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (window.__supportChatLoader || !script || !script.src) return;
  window.__supportChatLoader = 1;

  var version = "__SUPPORT_CHAT_VERSION__";
  // The server's --max-message-chars, filled in when it serves this file.
  var maxChars = Number("__SUPPORT_CHAT_MAX_CHARS__") || 1000;
  var folder = new URL(".", script.src);
  function attr(name, fallback) {
    var value = script.getAttribute("data-" + name);
    return value && value.trim() ? value.trim() : fallback;
  }
  var api = attr("api", folder.origin).replace(/\/+$/, "");
  // The site's privacy notice, linked from the contact form: an absolute http(s) URL.
  var privacy = attr("privacy-url", "");

  // The public API. Calls before the widget is ready are queued, in order.
  var handlers = {};
  var queue = [];
  var command = null;
  var host = null;
  function emit(name, detail) {
    // The widget's one request of the loader, on its first opening: ask the
    // server whether handoffs are taken and when someone will reply; write
    // the hours where the widget shows them and answer with `handoff`.
    if (name === "status") return askStatus();
    (handlers[name] || []).slice().forEach(function (handler) {
      try {
        handler(detail);
      } catch (error) {
        // A page's handler must not break the widget; report it like the browser would.
        setTimeout(function () {
          throw error;
        });
      }
    });
  }
  function askStatus() {
    fetch(api + "/public/v1/support/status")
      .then(function (response) {
        return response.json();
      })
      .then(function (status) {
        host.shadowRoot.querySelectorAll(".hours, .when").forEach(function (element) {
          element.textContent = status.message || "";
        });
        if (status.handoff === true) command("handoff");
      }, function () {});
  }
  function call(name) {
    return function (text) {
      if (name === "send") text = text == null ? "" : String(text);
      if (command) {
        // Closing moves focus back to the chat button only if focus was in the widget.
        if (name !== "send") text = document.activeElement === host ? "focus" : undefined;
        return command(name, text);
      }
      queue.push([name, text]);
    };
  }
  var early = window.SupportChat;
  var SupportChat = (window.SupportChat = {
    open: call("open"),
    close: call("close"),
    toggle: call("toggle"),
    send: call("send"),
    on: function (name, handler) {
      if (typeof handler === "function") {
        (handlers[name] = handlers[name] || []).push(handler);
        if (name === "ready" && command) handler();
      }
      return SupportChat;
    },
    off: function (name, handler) {
      handlers[name] = (handlers[name] || []).filter(function (h) {
        return h !== handler;
      });
      return SupportChat;
    },
  });
  // Calls a page pushed before this script ran: window.SupportChat = [["open"], ...].
  if (Array.isArray(early)) {
    early.forEach(function (args) {
      if (args && typeof SupportChat[args[0]] === "function") SupportChat[args[0]].apply(null, args.slice(1));
    });
  }

  function boot() {
    host = document.createElement("support-chat-widget");
    host.setAttribute("data-position", attr("position", "right") === "left" ? "left" : "right");
    host.setAttribute("data-theme", attr("theme", "auto"));
    // CSSOM, not a style attribute: allowed under a CSP without 'unsafe-inline'.
    var accent = attr("accent", "");
    if (accent) host.style.setProperty("--support-chat-accent", accent);
    var shadow = host.attachShadow({ mode: "open" });
    var link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = new URL("widget.css", folder).href;
    var root = document.createElement("div");
    root.className = "root";
    shadow.append(link, root);
    // Rendered only once its stylesheet applies: no flash of unstyled widget.
    var styled = new Promise(function (resolve, reject) {
      link.onload = resolve;
      link.onerror = reject;
    });
    document.body.appendChild(host);

    // The mobile keyboard: size the full-screen panel to the visible area.
    var viewport = window.visualViewport;
    if (viewport) {
      var fit = function () {
        host.style.setProperty("--sc-vh", viewport.height + "px");
      };
      viewport.addEventListener("resize", fit);
      fit();
    }

    var module = import(new URL("widget-" + version + ".js", folder).href).then(function (m) {
      return m.default({ module_or_path: new URL("widget-" + version + ".wasm", folder).href }).then(function () {
        return m;
      });
    });
    Promise.all([module, styled])
      .then(function (loaded) {
        var open = script.getAttribute("data-open");
        command = loaded[0].start(
          root,
          {
            api: api,
            title: attr("title", "Support"),
            greeting: attr("greeting", "Hello! How can we help?"),
            open: open != null && open.trim() !== "false",
            maxChars: maxChars,
            consent: attr("consent", "We'll use your email only to reply to this request."),
            privacy: /^https?:\/\//i.test(privacy) ? privacy : "",
          },
          emit
        );
        queue.splice(0).forEach(function (args) {
          SupportChat[args[0]](args[1]);
        });
        emit("ready");
      })
      .catch(function (error) {
        host.remove();
        console.warn("support-chat: the chat widget could not load.", error);
      });
  }

  if (document.readyState === "complete") boot();
  else window.addEventListener("load", boot, { once: true });
})();
