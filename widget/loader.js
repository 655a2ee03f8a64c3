/*
 * support-chat widget loader. A classic script: embed it with
 *   <script src="https://HOST/public/v1/support/widget.js" defer></script>
 * It waits for the page's `load` event, then imports the wasm widget from the
 * same folder as itself. Including it twice mounts one widget.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (window.__supportChatLoader || !script || !script.src) return;
  window.__supportChatLoader = true;

  var version = "__SUPPORT_CHAT_VERSION__";
  var folder = new URL(".", script.src);
  var api = (script.getAttribute("data-api") || new URL(script.src).origin).replace(/\/+$/, "");

  function boot() {
    import(new URL("widget-" + version + ".js", folder).href)
      .then(function (module) {
        return module
          .default({ module_or_path: new URL("widget-" + version + ".wasm", folder).href })
          .then(function () {
            module.start(script, api, new URL("widget.css", folder).href);
          });
      })
      .catch(function (error) {
        console.warn("support-chat: the chat widget could not load.", error);
      });
  }

  if (document.readyState === "complete") boot();
  else window.addEventListener("load", boot, { once: true });
})();
