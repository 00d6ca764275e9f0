/* newsbot chat widget: <script src="https://HOST/widget.js" data-api-key="KEY" data-lang="de"></script>
 *
 * Adds a chat about the archive where the tag stands (or into the element named by data-target):
 * each question stays in the thread as the reader's bubble with its answer below, follow-ups
 * keep the conversation, "new conversation" starts afresh. Every answer has its own sources,
 * a "copy citation" button per source and 👍/👎 feedback. Everything lives in a shadow root, so
 * page CSS and widget CSS never leak into each other. No build step, no dependencies, nothing
 * loaded from elsewhere. Answer text is inserted as text, never as HTML.
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
      refused: "Nichts gefunden", answer: "Antwort", note: "Hinweis", you: "Deine Frage", thread: "Gesprächsverlauf",
      reset: "Neues Gespräch", resetDone: "Neues Gespräch begonnen.", copy: "Zitat kopieren", copyLabel: "Zitat [{n}] mit Quelle kopieren",
      copied: "Kopiert ✓", copiedStatus: "Zitat mit Quelle kopiert.", copyFailed: "Kopieren ging nicht.",
      rate: "War die Antwort hilfreich?", helpful: "Hilfreich", wrong: "Falsch", thanks: "Danke für die Rückmeldung!",
      comment: "Kommentar (optional)", commentLabel: "Kommentar zur Antwort", send: "Senden", commentThanks: "Danke, der Kommentar ist notiert.",
      open: "„", close: "“"
    },
    en: {
      title: "Ask the archive", label: "Question to the articles", placeholder: "e.g. Who negotiated in Belarus?",
      ask: "Ask", busy: "Searching the articles …", sources: "Sources", updated: "updated", published: "published",
      error: "The request failed", network: "The server cannot be reached.", empty: "Please type a question.",
      refused: "Nothing found", answer: "Answer", note: "Note", you: "Your question", thread: "Conversation",
      reset: "New conversation", resetDone: "New conversation started.", copy: "Copy citation", copyLabel: "Copy quote [{n}] with its source",
      copied: "Copied ✓", copiedStatus: "Quote and source copied.", copyFailed: "Copying did not work.",
      rate: "Was this answer helpful?", helpful: "Helpful", wrong: "Wrong", thanks: "Thanks for the feedback!",
      comment: "Comment (optional)", commentLabel: "Comment on the answer", send: "Send", commentThanks: "Thanks, the comment is noted.",
      open: "“", close: "”"
    }
  }[lang];
  var conversation = newConversation();
  var inFlight = null;  // the AbortController of the question being answered

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
    ".thread { position: relative; max-height: 30rem; overflow-y: auto; overscroll-behavior: contain; }",
    ".thread:empty { display: none; }",
    ".turn { margin: 0 0 14px; }",
    ".panel .question { margin: 0 0 6px auto; max-width: 85%; width: fit-content; padding: 7px 12px; border-radius: 14px 14px 4px 14px; background: #0b57d0; color: #fff; white-space: pre-wrap; overflow-wrap: anywhere; }",
    ".reply { max-width: 95%; padding: 2px 0 0; }",
    ".pending::after { content: '…'; display: inline-block; padding: 4px 12px; border-radius: 14px; background: #eef1f6; color: #4a5568; animation: pulse 1.2s ease-in-out infinite; }",
    "@keyframes pulse { 50% { opacity: .4; } }",
    ".sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }",
    "form { display: flex; gap: 8px; flex-wrap: wrap; }",
    "label { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }",
    "input { flex: 1 1 16rem; min-width: 0; font: inherit; padding: 8px 10px; border: 1px solid #8a94a6; border-radius: 6px; color: inherit; background: #fff; }",
    ".panel button { font: inherit; padding: 8px 16px; border: 0; border-radius: 6px; background: #0b57d0; color: #fff; cursor: pointer; }",
    ".panel button[disabled] { background: #7a8aa8; cursor: progress; }",
    ".panel button.secondary { background: #e8eefb; color: #0b3d91; padding: 4px 10px; font-size: .9em; }",
    ".panel button.secondary[aria-pressed=true] { background: #0b57d0; color: #fff; }",
    ".panel form button.secondary { padding: 8px 12px; font-size: 1em; }",
    "input:focus-visible, button:focus-visible, a:focus-visible { outline: 3px solid #f5a623; outline-offset: 2px; }",
    ".panel .status { min-height: 1.4em; margin: 8px 0 0; color: #4a5568; }",
    ".status.busy::before { content: ''; display: inline-block; width: .8em; height: .8em; margin-right: .5em; border: 2px solid #0b57d0; border-right-color: transparent; border-radius: 50%; animation: spin .8s linear infinite; vertical-align: -1px; }",
    "@keyframes spin { to { transform: rotate(360deg); } }",
    ".attribution { margin: 10px 0 2px; font-weight: 600; }",
    "blockquote { margin: 0 0 4px; padding: 6px 12px; border-left: 4px solid #0b57d0; background: #f3f6fb; }",
    ".refused { padding: 10px 12px; border-radius: 6px; background: #fff4e5; border-left: 4px solid #d97706; }",
    ".error { padding: 10px 12px; border-radius: 6px; background: #fdecec; border-left: 4px solid #c62828; }",
    ".panel .note { font-size: .9em; color: #4a5568; font-style: italic; }",
    ".panel .draft { color: #4a5568; font-style: italic; }",
    "ol { margin: 4px 0 0; padding-left: 1.6em; }",
    ".panel a { color: #0b57d0; }",
    "h3 { font-size: .95em; margin: 12px 0 0; }",
    ".feedback { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; margin: 8px 0 0; font-size: .9em; color: #4a5568; }",
    ".feedback input { flex: 1 1 12rem; padding: 4px 8px; font-size: .95em; }",
    ".panel .thanks { color: #1e6b34; }"
  ].join("\n");

  var panel = el("section", { "class": "panel", "aria-label": T.title });
  var heading = el("h2", {}, T.title);
  var thread = el("div", { "class": "thread", role: "region", "aria-label": T.thread });
  var form = el("form", { role: "search" });
  var inputId = "newsbot-q";
  var label = el("label", { "for": inputId }, T.label);
  var input = el("input", { id: inputId, type: "text", name: "q", placeholder: T.placeholder, autocomplete: "off", maxlength: "2000" });
  var button = el("button", { type: "submit" }, T.ask);
  var reset = el("button", { type: "button", "class": "secondary reset" }, T.reset);
  var status = el("p", { "class": "status", role: "status", "aria-live": "polite" });
  // The newest answer, read out by screen readers (the thread itself stays quiet).
  var announce = el("div", { "class": "announce sr", "aria-live": "polite", "aria-atomic": "true" });
  form.append(label, input, button, reset);
  panel.append(heading, thread, form, status, announce);
  root.append(style, panel);

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (inFlight) { return; }
    var question = input.value.trim();
    if (!question) { status.textContent = T.empty; input.focus(); return; }
    input.value = "";
    var turn = addTurn(question);
    var controller = inFlight = new AbortController();
    busy(true);
    // The streaming endpoint: "draft" events (only with an LLM) show the unverified text so far;
    // the "answer" event, verified, replaces it.
    fetch(api + "/v1/ask/stream", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-API-Key": options.apiKey || "" },
      body: JSON.stringify({ question: question, conversation_id: conversation }),
      signal: controller.signal
    }).then(function (response) {
      if (!response.ok) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          var message = body && body.error ? body.error.message : response.statusText;
          throw new Error(T.error + " (" + response.status + "): " + message);
        });
      }
      var settled = false;  // an "answer" or "error" event arrived
      return readEvents(response, function (event, data) {
        if (controller.signal.aborted) { return; }
        if (event === "draft") { showDraft(turn, data.text); }
        else if (event === "answer") { settled = true; show(turn, data); }
        else if (event === "error") {
          settled = true;
          throw new Error(T.error + (data.error && data.error.message ? ": " + data.error.message : ""));
        }
      }).then(function () {
        // Ended without either (a proxy's timeout, a restarted server): the connection was lost.
        if (!settled) { throw new Error(T.network); }
      });
    }).catch(function (error) {
      if (controller.signal.aborted) { return; }
      setReply(turn, "error");
      turn.reply.append(el("div", { "class": "error", role: "alert" }, error instanceof TypeError ? T.network : error.message));
      if (!input.value) { input.value = question; }  // ready to send again
    }).then(function () {
      if (inFlight === controller) { inFlight = null; busy(false); }
    });
  });

  reset.addEventListener("click", function () {
    if (inFlight) { inFlight.abort(); inFlight = null; busy(false); }
    conversation = newConversation();  // the server forgets nothing it needs: a new id is a new history
    while (thread.firstChild) { thread.removeChild(thread.firstChild); }
    status.textContent = T.resetDone;
    announce.textContent = "";
    input.focus();
  });

  function newConversation() {
    var bytes = new Uint8Array(9);
    crypto.getRandomValues(bytes);
    return "w-" + Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function addTurn(question) {
    var node = el("div", { "class": "turn" });
    var asked = el("p", { "class": "question" });
    asked.append(el("span", { "class": "sr" }, T.you + ": "), el("span", { "class": "text" }, question));
    var reply = el("div", { "class": "reply pending", "data-state": "pending" });
    node.append(asked, reply);
    thread.append(node);
    var turn = { node: node, reply: reply };
    reveal(turn);
    return turn;
  }

  function reveal(turn) {  // the newest turn's question at the top of the visible thread
    thread.scrollTop = Math.max(0, turn.node.offsetTop - 4);
  }

  function setReply(turn, state) {
    while (turn.reply.firstChild) { turn.reply.removeChild(turn.reply.firstChild); }
    turn.reply.className = "reply";
    turn.reply.setAttribute("data-state", state);
  }

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

  function showDraft(turn, text) {
    setReply(turn, "draft");
    turn.reply.append(el("p", { "class": "draft" }, text + " …"));
  }

  function busy(on) {
    button.disabled = on;
    panel.setAttribute("aria-busy", on ? "true" : "false");
    status.className = on ? "status busy" : "status";
    status.textContent = on ? T.busy : "";
  }

  function show(turn, data) {
    if (data.refused) {
      setReply(turn, "refused");
      turn.reply.append(el("div", { "class": "refused" }, data.answer));
    } else {
      setReply(turn, "answered");
      render(turn.reply, data);
    }
    if (data.answer_id) { turn.reply.append(feedback(data.answer_id)); }
    announce.textContent = (data.refused ? T.refused : T.answer) + ": " + data.answer.slice(0, 600);
    reveal(turn);
  }

  function render(block, data) {
    if (data.mode === "generated") {  // an LLM's sentences, each verified against the source it cites
      block.append(el("p", { "class": "generated" }, data.answer));
    }
    (data.citations || []).forEach(function (c) {
      var when = c.updated ? T.updated + " " + day(c.updated) : c.published ? T.published + " " + day(c.published) : "";
      block.append(el("p", { "class": "attribution" }, (c.source || c.title) + (when ? " (" + when + ")" : "") + " [" + c.n + "]"));
      quotesOf(c).forEach(function (q, i) { block.append(quoteBlock(q, (c.answer_spans || [])[i])); });
      var copy = el("button", { type: "button", "class": "secondary copy", "aria-label": T.copyLabel.replace("{n}", c.n) }, T.copy);
      copy.addEventListener("click", function () { copyCitation(copy, c); });
      block.append(copy);
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
  }

  function quotesOf(c) { return c.quotes && c.quotes.length ? c.quotes : [c.quote]; }

  // A quote, with the words that answer in bold where the reader marked them (answer_spans).
  function quoteBlock(q, span) {
    var block = el("blockquote", {});
    if (!span || !(span[0] >= 0 && span[0] < span[1] && span[1] <= Array.from(q).length)) {
      block.textContent = q;
      return block;
    }
    var chars = Array.from(q);  // the offsets count characters (code points), as Python does
    block.append(document.createTextNode(chars.slice(0, span[0]).join("")));
    block.append(el("strong", { "class": "answer" }, chars.slice(span[0], span[1]).join("")));
    block.append(document.createTextNode(chars.slice(span[1]).join("")));
    return block;
  }

  // What a reporter pastes into a draft: „quote“ – title, source, date, link (as plain text).
  function citationText(c) {
    var parts = [c.title, c.source, day(c.updated || c.published), /^https?:\/\//i.test(c.url || "") ? c.url : ""];
    return T.open + quotesOf(c).join(" … ") + T.close + " – " + parts.filter(Boolean).join(", ");
  }

  function copyCitation(copy, c) {
    var text = citationText(c);
    var done = function () {
      copy.textContent = T.copied;
      status.textContent = T.copiedStatus;
      setTimeout(function () { copy.textContent = T.copy; }, 2500);
    };
    var failed = function () { status.textContent = T.copyFailed; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, failed);
      return;
    }
    // Plain-http intranets have no clipboard API: select a hidden text field and copy that.
    var area = el("textarea", { "class": "sr", "aria-hidden": "true", tabindex: "-1" });
    area.value = text;
    root.append(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    area.remove();
    copy.focus();
    if (ok) { done(); } else { failed(); }
  }

  function feedback(answerId) {
    var row = el("div", { "class": "feedback", role: "group", "aria-label": T.rate });
    var prompt = el("span", {}, T.rate);
    // Emoji plus a word: the meaning never depends on an emoji font being installed.
    var good = el("button", { type: "button", "class": "secondary good", "aria-pressed": "false", "aria-label": T.helpful }, "👍 " + T.helpful);
    var bad = el("button", { type: "button", "class": "secondary bad", "aria-pressed": "false", "aria-label": T.wrong }, "👎 " + T.wrong);
    var result = el("span", { "class": "result", role: "status" });
    var commentBox = null;
    row.append(prompt, good, bad, result);
    function rate(rating, comment) {
      return send({ answer_id: answerId, rating: rating, comment: comment || null }).then(function () {
        good.setAttribute("aria-pressed", String(rating === "helpful"));
        bad.setAttribute("aria-pressed", String(rating === "wrong"));
        row.setAttribute("data-rated", rating);
        result.className = "result thanks";
        result.textContent = comment ? T.commentThanks : T.thanks;
      }, function (error) {
        result.className = "result error";
        result.textContent = error.message;
      });
    }
    function ask(rating) {
      rate(rating).then(function () {
        if (commentBox || row.getAttribute("data-rated") !== rating) { return; }
        commentBox = el("input", { type: "text", "class": "comment", maxlength: "500", placeholder: T.comment, "aria-label": T.commentLabel });
        var submit = el("button", { type: "button", "class": "secondary send" }, T.send);
        var post = function () {
          var text = commentBox.value.trim();
          if (!text) { commentBox.focus(); return; }
          rate(row.getAttribute("data-rated"), text).then(function () {
            if (row.getAttribute("data-rated")) { commentBox.remove(); submit.remove(); }
          });
        };
        submit.addEventListener("click", post);
        commentBox.addEventListener("keydown", function (event) {
          if (event.key === "Enter") { event.preventDefault(); post(); }
        });
        row.append(commentBox, submit);
      });
    }
    good.addEventListener("click", function () { ask("helpful"); });
    bad.addEventListener("click", function () { ask("wrong"); });
    return row;
  }

  function send(body) {
    return fetch(api + "/v1/feedback", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-API-Key": options.apiKey || "" },
      body: JSON.stringify(body)
    }).then(function (response) {
      if (response.ok) { return response.json(); }
      return response.json().catch(function () { return {}; }).then(function (data) {
        throw new Error(T.error + " (" + response.status + "): " + (data && data.error ? data.error.message : response.statusText));
      });
    }, function () { throw new Error(T.network); });
  }

  function day(iso) { return iso ? iso.slice(8, 10) + "." + iso.slice(5, 7) + "." + iso.slice(0, 4) : ""; }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
})();
