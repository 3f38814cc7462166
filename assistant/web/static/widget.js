/* The "Ask the article" widget: a launcher button that opens the compact chat (/embed) in an iframe.
 *
 * <script src="http://HOST:7860/widget.js" data-title="Ask the article" data-position="bottom-right" async></script>
 *
 * Options (data- attributes): title, greeting, color (#rgb or #rrggbb), position (bottom-right | bottom-left),
 * open (present or "true": open on load), document (a document id from GET /api/documents: answer only from
 * that article, and name it in the header and greeting). The page that embeds this must be in the server's
 * ASSISTANT_ALLOWED_ORIGINS, or the browser refuses to show the frame.
 */
(function () {
  "use strict";
  if (window.__askArticleWidget) return;
  // document.currentScript is null for async scripts in some browsers: fall back to the last matching tag.
  var script = document.currentScript;
  if (!script || !/widget\.js/.test(script.src || "")) {
    var tags = document.querySelectorAll('script[src*="widget.js"]');
    script = tags[tags.length - 1];
  }
  if (!script) return;
  window.__askArticleWidget = true;

  var origin = new URL(script.src, window.location.href).origin;
  var data = script.dataset;
  var title = (data.title || "Ask the article").slice(0, 80);
  var greeting = (data.greeting || "").slice(0, 300);
  var color = /^#(?:[0-9a-fA-F]{3}){1,2}$/.test(data.color || "") ? data.color : "#1d4ed8";
  var side = data.position === "bottom-left" ? "left" : "right";
  var openOnLoad = data.open !== undefined && data.open !== "false";
  var documentId = (data.document || "").trim().slice(0, 200);

  function style(el, rules) {
    for (var key in rules) el.style[key] = rules[key];
    return el;
  }

  var launcher = style(document.createElement("button"), {
    position: "fixed", bottom: "20px", zIndex: "2147483000", padding: "12px 18px", border: "0",
    borderRadius: "999px", background: color, color: "#fff", font: "600 15px/1.2 system-ui, sans-serif",
    boxShadow: "0 6px 20px rgba(0,0,0,.25)", cursor: "pointer"
  });
  launcher.style[side] = "20px";
  launcher.type = "button";
  launcher.textContent = title;
  launcher.setAttribute("aria-expanded", "false");
  launcher.setAttribute("data-ask-widget", "launcher");

  var panel = style(document.createElement("div"), {
    position: "fixed", bottom: "80px", zIndex: "2147483000", width: "min(400px, calc(100vw - 32px))",
    height: "min(600px, calc(100vh - 110px))", borderRadius: "14px", overflow: "hidden",
    boxShadow: "0 12px 40px rgba(0,0,0,.3)", background: "#fff", display: "none"
  });
  panel.style[side] = "20px";
  panel.setAttribute("data-ask-widget", "panel");

  var frame = null;
  function ensureFrame() {
    if (frame) return;
    var params = new URLSearchParams({ title: title, color: color });
    if (greeting) params.set("greeting", greeting);
    if (documentId) params.set("document", documentId);
    frame = style(document.createElement("iframe"), { width: "100%", height: "100%", border: "0", display: "block" });
    frame.src = origin + "/embed?" + params.toString();
    frame.title = title;
    frame.setAttribute("data-ask-widget", "frame");
    panel.appendChild(frame);
  }

  function setOpen(open) {
    if (open) ensureFrame();
    panel.style.display = open ? "block" : "none";
    launcher.setAttribute("aria-expanded", open ? "true" : "false");
    launcher.textContent = open ? "Close" : title;
  }

  launcher.addEventListener("click", function () {
    setOpen(panel.style.display === "none");
  });
  window.addEventListener("message", function (event) {
    if (event.origin !== origin || !frame || event.source !== frame.contentWindow) return;
    if (event.data && event.data.type === "ask-article:close") setOpen(false);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && panel.style.display !== "none") setOpen(false);
  });

  function mount() {
    document.body.appendChild(panel);
    document.body.appendChild(launcher);
    if (openOnLoad) setOpen(true);
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
