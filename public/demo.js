// The demo page's use of the widget's JS API (see widget/README.md). An
// external file, so the page needs no inline script.
(function () {
  "use strict";
  // Snippets rendered without a configured public URL: name this origin.
  document.querySelectorAll("code[data-origin]").forEach(function (code) {
    code.textContent = code.textContent.replace(/(src|href)="\//g, '$1="' + location.origin + "/");
  });
  var chat = window.SupportChat;
  if (!chat) return;
  document.querySelectorAll("button[data-chat]").forEach(function (button) {
    button.addEventListener("click", function () {
      var action = button.getAttribute("data-chat");
      if (action === "send") {
        chat.open();
        chat.send(button.getAttribute("data-text"));
      } else {
        chat[action]();
      }
    });
  });
  var list = document.querySelector("ol.events");
  ["ready", "open", "close", "message", "error"].forEach(function (name) {
    chat.on(name, function (detail) {
      if (!list) return;
      var item = document.createElement("li");
      var text = name;
      if (detail && detail.direction) text += " (" + detail.direction + "): " + detail.text.slice(0, 60);
      else if (detail && detail.code) text += ": " + detail.code;
      item.textContent = text;
      list.appendChild(item);
    });
  });
})();
