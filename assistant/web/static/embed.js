/* The compact chat inside the widget's iframe: asks /api/ask (streamed: with a model configured, its
 * wording appears sentence by checked sentence) and shows the answer with its sources.
 * With ?document=<id> (the widget's data-document) it answers from that article only and names it.
 * Every piece of text from the server or the user goes into the page through textContent, never as HTML. */
(function () {
  "use strict";
  var params = new URLSearchParams(window.location.search);
  var log = document.getElementById("log");
  var form = document.getElementById("ask");
  var input = document.getElementById("question");
  var send = document.getElementById("send");
  var history = [];
  var MAX_HISTORY = 20;

  var title = (params.get("title") || "Ask the article").slice(0, 80);
  document.getElementById("title").textContent = title;
  document.title = title;
  var color = params.get("color") || "";
  if (/^#(?:[0-9a-fA-F]{3}){1,2}$/.test(color)) document.documentElement.style.setProperty("--accent", color);
  var greeting = (params.get("greeting") ||
    "Ask me about this article. Answers quote it word for word, with numbered sources.").slice(0, 300);
  var documentId = (params.get("document") || "").slice(0, 200);

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function bubble(role, text) {
    var node = el("div", "msg " + role, text);
    log.appendChild(node);
    log.scrollTop = log.scrollHeight;
    return node;
  }

  // Bring the start of ``node`` (a new answer) to the top of the conversation: a long source passage
  // below it must not push the answer's first words out of view.
  function scrollToStart(node) {
    log.scrollTop += node.getBoundingClientRect().top - log.getBoundingClientRect().top - 8;
  }

  function safeUrl(url) {
    try {
      var parsed = new URL(url);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
    } catch (e) {
      return null;
    }
  }

  function link(url, label) {
    var a = el("a", null, label);
    a.href = url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    return a;
  }

  // The passage with each [start, end) quote span wrapped in <mark>, built from text nodes.
  function passage(text, spans) {
    var p = el("p", "passage");
    var at = 0;
    (spans || []).slice().sort(function (a, b) { return a[0] - b[0]; }).forEach(function (span) {
      var start = Math.max(span[0], at), end = Math.min(span[1], text.length);
      if (start >= end) return;
      p.appendChild(document.createTextNode(text.slice(at, start)));
      p.appendChild(el("mark", null, text.slice(start, end)));
      at = end;
    });
    p.appendChild(document.createTextNode(text.slice(at)));
    return p;
  }

  function where(item) {
    var parts = [];
    var documentTitle = item.document_title || item.document || "";
    if (item.section && item.section !== documentTitle) parts.push(item.section);
    parts.push(documentTitle);
    if (item.speaker) parts.push(item.speaker);
    return parts.join(" · ");
  }

  function reference(ref) {
    var box = el("div", "reference");
    box.appendChild(el("span", "ref-number", "Ref. " + ref.number + " "));
    var label = [ref.journal, ref.year].filter(Boolean).join(" ");
    if (label) box.appendChild(el("span", "journal", label + " "));
    if (ref.doi && /^10\.\d{4,9}\/\S+$/.test(ref.doi)) {
      box.appendChild(link("https://doi.org/" + ref.doi, "doi:" + ref.doi));
    } else if (safeUrl(ref.url)) {
      box.appendChild(link(safeUrl(ref.url), "link"));
    }
    if (ref.nct_ids && ref.nct_ids.length) box.appendChild(el("span", "nct", " " + ref.nct_ids.join(", ")));
    return box;
  }

  function sources(answer) {
    var box = el("div", "sources");
    if (answer.abstained) {
      if (!answer.see_also || !answer.see_also.length) return null;
      box.appendChild(el("div", "sources-title", "See also"));
      answer.see_also.forEach(function (item) {
        var li = el("div", "source");
        li.appendChild(el("div", "where", where(item)));
        li.appendChild(el("p", "passage", item.text));
        box.appendChild(li);
      });
      return box;
    }
    if (!answer.citations || !answer.citations.length) return null;
    box.appendChild(el("div", "sources-title", "Sources"));
    answer.citations.forEach(function (c) {
      var li = el("div", "source");
      var head = el("div", "where");
      head.appendChild(el("span", "n", "[" + c.n + "] "));
      head.appendChild(document.createTextNode(where(c)));
      li.appendChild(head);
      li.appendChild(passage(c.text || "", c.quote_spans));
      if (c.reference) li.appendChild(reference(c.reference));
      if (/^\/documents\/[\w.%~-]+\?start=\d+&end=\d+#quote$/.test(c.context_url || "")) {
        var more = el("div", "in-context");
        more.appendChild(link(c.context_url, "Read in context ↗"));  // same origin as this frame; new tab
        li.appendChild(more);
      }
      box.appendChild(li);
    });
    return box;
  }

  // The answer's head: "Searched: …" when the query was rewritten, then the text box.
  function answerHead(node, info) {
    node.textContent = "";
    if (info.rewritten_query && info.rewritten_query !== info.question) {
      node.appendChild(el("div", "searched", "Searched: " + info.rewritten_query));
    }
    var text = el("div", info.abstained ? "text abstention" : "text");
    node.appendChild(text);
    return text;
  }

  // Who wrote the answer, when a model was asked to word it (the words of display.composer_note on the chat page).
  function composerNote(answer, model) {
    if (!answer.guard) return null;
    if (answer.composer === "llm") return "Worded by " + (model || "the model") + " from the cited sentences — checked";
    var reasons = answer.guard.reasons || [];
    if (!reasons.length || reasons[0].indexOf("model error") === 0) return "Quoted from the article (the model did not answer)";
    // without the guard's quote of the rejected sentence: set aside means never shown, not even quoted
    return "Quoted from the article — the model's wording was set aside: " + reasons[0].replace(/:\s*“[^”]*”\s*$/, "");
  }

  function finish(node, answer, note, done) {
    if (note) node.appendChild(el("div", "composer", note));
    var list = sources(answer);
    if (list) node.appendChild(list);
    scrollToStart(node);
    done();
  }

  // Show the answer a few words at a time, then its sources.
  function showAnswer(node, answer, done) {
    var text = answerHead(node, answer);
    var words = answer.answer.split(/(\s+)/);
    var shown = 0;
    var timer = setInterval(function () {
      shown = Math.min(words.length, shown + 6);
      text.textContent = words.slice(0, shown).join("");
      scrollToStart(node);
      if (shown >= words.length) {
        clearInterval(timer);
        finish(node, answer, composerNote(answer, null), done);
      }
    }, 30);
  }

  function setBusy(busy) {
    send.disabled = busy;
    input.disabled = busy;
    if (!busy) input.focus();
  }

  function showError(node, message) {
    node.classList.remove("pending");
    node.classList.add("error");
    node.textContent = message;
    setBusy(false);
  }

  function request(question, stream) {
    var body = { question: question, history: history.slice(-MAX_HISTORY) };
    if (documentId) body.document = documentId;
    if (stream) body.stream = true;
    return fetch("/api/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    });
  }

  function answered(question, answer) {
    history.push({ role: "user", content: question }, { role: "assistant", content: answer.answer });
  }

  // A refusal (4xx/5xx) as JSON: its message is shown as it is.
  function refusal(response) {
    return response.json().catch(function () { return { error: "The server sent an unreadable reply." }; })
      .then(function (body) { return body.error || "Something went wrong. Try again."; });
  }

  // The one-shot call: the whole answer at once (also the fallback when streaming fails).
  function askOnce(question, pending) {
    return request(question, false).then(function (response) {
      if (!response.ok) return refusal(response).then(function (message) { showError(pending, message); });
      return response.json().then(function (answer) {
        pending.classList.remove("pending");
        answered(question, answer);
        showAnswer(pending, answer, function () { setBusy(false); });
      });
    }).catch(function () {
      showError(pending, "The assistant cannot be reached. Try again in a moment.");
    });
  }

  // Server-sent events from a fetch body (EventSource cannot POST): calls onEvent(name, data) per event.
  function readEvents(response, onEvent) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    function pump() {
      return reader.read().then(function (chunk) {
        buffer += decoder.decode(chunk.value || new Uint8Array(), { stream: !chunk.done });
        var cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          var block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          var name = "message", data = [];
          block.split("\n").forEach(function (line) {
            if (line.indexOf("event:") === 0) name = line.slice(6).trim();
            else if (line.indexOf("data:") === 0) data.push(line.slice(5).replace(/^ /, ""));
          });
          if (data.length) onEvent(name, JSON.parse(data.join("\n")));
        }
        if (!chunk.done) return pump();
      });
    }
    return pump();
  }

  // The streamed call: each checked state of the model's wording replaces the text shown, then the final
  // answer with its sources. If the stream fails before its answer, the one-shot call is made instead.
  function askStreaming(question, pending) {
    var info = null, text = null, final = null, failed = null;
    return request(question, true).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (!response.ok) return refusal(response).then(function (message) { failed = message; });
      if (type.indexOf("text/event-stream") !== 0 || !response.body) throw new Error("not a stream");
      return readEvents(response, function (name, data) {
        if (name === "start") {
          info = data;
          if (info.writing) {
            pending.classList.remove("pending");
            text = answerHead(pending, info);
            pending.appendChild(el("div", "composer writing", "Writing… each sentence appears once it is checked."));
          }
        } else if (name === "text" && text) {
          text.textContent = data.text;
          scrollToStart(pending);
        } else if (name === "answer") {
          final = data;
        } else if (name === "error") {
          failed = data.error || "Something went wrong. Try again.";
        }
      });
    }).then(function () {
      if (failed) return showError(pending, failed);
      if (!final) throw new Error("the stream ended without an answer");
      pending.classList.remove("pending");
      answered(question, final);
      if (!info || !info.writing) return showAnswer(pending, final, function () { setBusy(false); });
      answerHead(pending, final).textContent = final.answer;
      finish(pending, final, composerNote(final, info.model), function () { setBusy(false); });
    }).catch(function () {
      pending.className = "msg bot pending";
      pending.textContent = "Searching the article…";
      return askOnce(question, pending);
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var question = input.value.trim();
    if (!question) return;
    input.value = "";
    bubble("user", question);
    var pending = bubble("bot pending", "Searching the article…");
    setBusy(true);
    askStreaming(question, pending);
  });

  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  document.getElementById("new-chat").addEventListener("click", function () {
    history = [];
    log.textContent = "";
    bubble("bot", greeting);
    input.focus();
  });
  document.getElementById("close").addEventListener("click", function () {
    window.parent.postMessage({ type: "ask-article:close" }, "*");
  });

  var greetingNode = bubble("bot", greeting);

  // data-document: name the article in the header and the greeting (the id is checked by the server).
  if (documentId) {
    fetch("/api/documents").then(function (response) { return response.json(); }).then(function (body) {
      var found = (body.documents || []).filter(function (d) { return d.id === documentId; })[0];
      var subtitle = document.getElementById("subtitle");
      if (!found) {
        greetingNode.classList.add("error");
        greetingNode.textContent = "This widget names a document the server does not hold (" + documentId +
          "). The site's data-document must be an id from /api/documents.";
        return;
      }
      subtitle.textContent = found.title;
      subtitle.hidden = false;
      if (!params.get("greeting")) {
        greeting = ("Ask me about \u201c" + found.title + "\u201d. Answers quote it word for word, with numbered sources.").slice(0, 300);
        if (log.childNodes.length === 1) greetingNode.textContent = greeting;
      }
    }).catch(function () { /* the header stays generic; questions still go to the document */ });
  }
})();
