/* newsbot chat widget: <script src="https://HOST/widget.js" data-api-key="KEY" data-lang="de"></script>
 *
 * Adds an ask box where the tag stands (or into the element named by data-target). Everything
 * lives in a shadow root, so page CSS and widget CSS never leak into each other. No build step,
 * no dependencies, nothing loaded from elsewhere. Answer text is inserted as text, never as HTML.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) { return; }
  var src = new URL(script.src, document.baseURI);
  var api = src.href.replace(/\/widget\.js(\?.*)?$/, "");
  var options = script.dataset;
  if (script.hasAttribute("data-from-fragment")) {
    var fragment = new URLSearchParams(location.hash.slice(1));
    options = { apiKey: fragment.get("key") || "", lang: fragment.get("lang") || "" };
  }
  var lang = /^en/i.test(options.lang || document.documentElement.lang || "de") ? "en" : "de";
  var T = {
    de: {
      title: "Frag das Archiv", label: "Frage an die Artikel", placeholder: "z. B. Wer hat in Belarus verhandelt?",
      ask: "Fragen", busy: "Suche in den Artikeln …", sources: "Quellen", updated: "Stand", published: "vom",
      error: "Die Anfrage ist fehlgeschlagen", network: "Der Server ist nicht erreichbar.", empty: "Bitte eine Frage eingeben.",
      refused: "Nichts gefunden", answer: "Antwort", note: "Hinweis"
    },
    en: {
      title: "Ask the archive", label: "Question to the articles", placeholder: "e.g. Who negotiated in Belarus?",
      ask: "Ask", busy: "Searching the articles …", sources: "Sources", updated: "updated", published: "published",
      error: "The request failed", network: "The server cannot be reached.", empty: "Please type a question.",
      refused: "Nothing found", answer: "Answer", note: "Note"
    }
  }[lang];
  var conversation = "w-" + Math.random().toString(36).slice(2) + Date.now().toString(36);

  var host = document.createElement("div");
  host.className = "newsbot-widget";
  var target = options.target ? document.querySelector(options.target) : null;
  if (target) { target.appendChild(host); } else { script.parentNode.insertBefore(host, script.nextSibling); }
  var root = host.attachShadow({ mode: "open" });

  var style = document.createElement("style");
  style.textContent = [
    // !important here wins over the page's !important on the host element (shadow cascade rules);
    // every colour and font is set inside, so nothing is inherited from the page.
    ":host { all: initial !important; display: block !important; }",
    ".panel { font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif; color: #1d1d1f; text-align: left; }",
    ".panel * { font-family: inherit; color: inherit; }",
    ".panel { box-sizing: border-box; max-width: 40rem; border: 1px solid #c9ced6; border-radius: 10px; padding: 14px; background: #fff; }",
    "h2 { font-size: 1.05em; margin: 0 0 8px; }",
    "form { display: flex; gap: 8px; flex-wrap: wrap; }",
    "label { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }",
    "input { flex: 1 1 16rem; min-width: 0; font: inherit; padding: 8px 10px; border: 1px solid #8a94a6; border-radius: 6px; color: inherit; background: #fff; }",
    ".panel button { font: inherit; padding: 8px 16px; border: 0; border-radius: 6px; background: #0b57d0; color: #fff; cursor: pointer; }",
    ".panel button[disabled] { background: #7a8aa8; cursor: progress; }",
    "input:focus-visible, button:focus-visible, a:focus-visible { outline: 3px solid #f5a623; outline-offset: 2px; }",
    ".panel .status { min-height: 1.4em; margin: 8px 0 0; color: #4a5568; }",
    ".status.busy::before { content: ''; display: inline-block; width: .8em; height: .8em; margin-right: .5em; border: 2px solid #0b57d0; border-right-color: transparent; border-radius: 50%; animation: spin .8s linear infinite; vertical-align: -1px; }",
    "@keyframes spin { to { transform: rotate(360deg); } }",
    ".answer { margin-top: 6px; }",
    ".attribution { margin: 10px 0 2px; font-weight: 600; }",
    "blockquote { margin: 0 0 8px; padding: 6px 12px; border-left: 4px solid #0b57d0; background: #f3f6fb; }",
    ".refused { padding: 10px 12px; border-radius: 6px; background: #fff4e5; border-left: 4px solid #d97706; }",
    ".error { padding: 10px 12px; border-radius: 6px; background: #fdecec; border-left: 4px solid #c62828; }",
    ".panel .note { font-size: .9em; color: #4a5568; font-style: italic; }",
    ".panel .draft { color: #4a5568; font-style: italic; }",
    "ol { margin: 4px 0 0; padding-left: 1.6em; }",
    ".panel a { color: #0b57d0; }",
    "h3 { font-size: .95em; margin: 12px 0 0; }"
  ].join("\n");

  var panel = el("section", { "class": "panel", "aria-label": T.title });
  var heading = el("h2", {}, T.title);
  var form = el("form", { role: "search" });
  var inputId = "newsbot-q";
  var label = el("label", { "for": inputId }, T.label);
  var input = el("input", { id: inputId, type: "text", name: "q", placeholder: T.placeholder, autocomplete: "off", maxlength: "2000" });
  var button = el("button", { type: "submit" }, T.ask);
  var status = el("p", { "class": "status", role: "status", "aria-live": "polite" });
  var answer = el("div", { "class": "answer", "aria-live": "polite" });
  form.append(label, input, button);
  panel.append(heading, form, status, answer);
  root.append(style, panel);

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var question = input.value.trim();
    if (!question) { status.textContent = T.empty; input.focus(); return; }
    busy(true);
    // The streaming endpoint: "draft" events (only with an LLM) show the unverified text so far;
    // the "answer" event, verified, replaces it.
    fetch(api + "/v1/ask/stream", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-API-Key": options.apiKey || "" },
      body: JSON.stringify({ question: question, conversation_id: conversation })
    }).then(function (response) {
      if (!response.ok) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          var message = body && body.error ? body.error.message : response.statusText;
          throw new Error(T.error + " (" + response.status + "): " + message);
        });
      }
      return readEvents(response, function (event, data) {
        if (event === "draft") { showDraft(data.text); }
        else if (event === "answer") { show(data); }
        else if (event === "error") { throw new Error(T.error + ": " + data.error.message); }
      });
    }).catch(function (error) {
      clear();
      answer.append(el("div", { "class": "error", role: "alert" }, error instanceof TypeError ? T.network : error.message));
    }).then(function () { busy(false); });
  });

  function readEvents(response, handle) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    function pump() {
      return reader.read().then(function (chunk) {
        buffer += decoder.decode(chunk.value || new Uint8Array(), { stream: !chunk.done });
        var blocks = buffer.split(/\r?\n\r?\n/);
        buffer = chunk.done ? "" : blocks.pop();
        blocks.forEach(function (block) {
          var event = "message", data = [];
          block.split(/\r?\n/).forEach(function (line) {
            if (line.indexOf("event:") === 0) { event = line.slice(6).trim(); }
            else if (line.indexOf("data:") === 0) { data.push(line.slice(5).replace(/^ /, "")); }
          });
          if (data.length) { handle(event, JSON.parse(data.join("\n"))); }
        });
        return chunk.done ? undefined : pump();
      });
    }
    return pump();
  }

  function showDraft(text) {
    clear();
    answer.append(el("p", { "class": "draft", "data-state": "draft" }, text + " …"));
  }

  function busy(on) {
    button.disabled = on;
    panel.setAttribute("aria-busy", on ? "true" : "false");
    status.className = on ? "status busy" : "status";
    status.textContent = on ? T.busy : "";
  }

  function clear() { while (answer.firstChild) { answer.removeChild(answer.firstChild); } }

  function show(data) {
    clear();
    if (data.refused) {
      answer.append(el("div", { "class": "refused", "data-state": "refused" }, data.answer));
      return;
    }
    var block = el("div", { "data-state": "answered" });
    if (data.mode === "generated") {  // an LLM's sentences, each verified against the source it cites
      block.append(el("p", { "class": "generated" }, data.answer));
    }
    (data.citations || []).forEach(function (c) {
      var when = c.updated ? T.updated + " " + day(c.updated) : c.published ? T.published + " " + day(c.published) : "";
      block.append(el("p", { "class": "attribution" }, (c.source || c.title) + (when ? " (" + when + ")" : "") + " [" + c.n + "]"));
      var quotes = c.quotes && c.quotes.length ? c.quotes : [c.quote];
      quotes.forEach(function (q) { block.append(el("blockquote", {}, q)); });
    });
    if (data.note) { block.append(el("p", { "class": "note" }, data.note)); }
    block.append(el("h3", {}, T.sources));
    var list = el("ol", {});
    (data.citations || []).forEach(function (c) {
      var item = el("li", { value: String(c.n) });
      var text = c.title + (c.updated || c.published ? " (" + day(c.updated || c.published) + ")" : "");
      if (c.url && /^https?:\/\//i.test(c.url)) {
        item.append(el("a", { href: c.url, target: "_blank", rel: "noopener noreferrer" }, text));
      } else {
        item.append(document.createTextNode(text));
      }
      list.append(item);
    });
    block.append(list);
    answer.append(block);
  }

  function day(iso) { return iso ? iso.slice(8, 10) + "." + iso.slice(5, 7) + "." + iso.slice(0, 4) : ""; }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
})();
