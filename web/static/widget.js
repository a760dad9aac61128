/* wijkbot web chat widget (docs/webchat.md).
 *
 * One tag on any page: <script src="https://werkplek.example.nl/widget.js" defer></script>
 * The API is the script's own origin. Plain JavaScript, no framework, no build step. Its CSS uses class names
 * starting with "wbw-" only. Messages from the server are rebuilt from their HTML by keeping only a few safe
 * elements (never assigned as innerHTML).
 */
(function () {
  "use strict";
  if (window.wijkbotWidget) return;
  var script = document.currentScript;
  if (!script || !script.src) return;
  var BASE = new URL(script.src).origin;
  var STORE = "wijkbot-chat";
  var LOG_LIMIT = 60; // own messages kept on this device to rebuild the conversation after a reload
  var ALLOWED = { B: 1, STRONG: 1, I: 1, EM: 1, A: 1, CODE: 1, PRE: 1, BR: 1 };
  var SKIPPED = { SCRIPT: 1, STYLE: 1, TEMPLATE: 1, IFRAME: 1, OBJECT: 1, NOSCRIPT: 1, TEXTAREA: 1, TITLE: 1 };
  var PLACEHOLDER = "Typ je bericht";

  var CSS = [
    ".wbw-root{position:fixed;right:12px;bottom:12px;z-index:2147483000;font:16px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;color:#1a1a1a;text-align:left;}",
    ".wbw-root *,.wbw-root *::before,.wbw-root *::after{box-sizing:border-box;}",
    ".wbw-launcher{display:block;margin:0 0 0 auto;border:2px solid #fff;border-radius:24px;background:#1d4f91;color:#fff;font:inherit;font-weight:600;padding:10px 18px;cursor:pointer;box-shadow:0 2px 8px rgba(0,0,0,.3);}",
    ".wbw-launcher:hover{background:#163d70;}",
    ".wbw-root button:focus-visible,.wbw-root input:focus-visible,.wbw-root a:focus-visible,.wbw-log:focus-visible{outline:3px solid #f5a300;outline-offset:2px;}",
    ".wbw-panel{display:flex;flex-direction:column;width:min(380px,calc(100vw - 24px));height:min(560px,calc(100vh - 24px));background:#fff;border:1px solid #6b7280;border-radius:10px;box-shadow:0 4px 20px rgba(0,0,0,.3);overflow:hidden;}",
    ".wbw-panel[hidden],.wbw-launcher[hidden]{display:none;}",
    ".wbw-head{display:flex;align-items:flex-start;gap:8px;background:#1d4f91;color:#fff;padding:10px 12px;}",
    ".wbw-title{margin:0;font-size:1.05em;font-weight:700;color:#fff;}",
    ".wbw-sub{margin:2px 0 0;font-size:.85em;color:#fff;}",
    ".wbw-close{margin-left:auto;border:2px solid #fff;border-radius:6px;background:transparent;color:#fff;font:inherit;font-size:1.2em;line-height:1;min-width:36px;min-height:36px;cursor:pointer;}",
    ".wbw-log{flex:1;overflow-y:auto;padding:10px;background:#f7f7f8;}",
    ".wbw-msg{margin:0 0 10px;max-width:92%;padding:8px 10px;border-radius:8px;overflow-wrap:anywhere;}",
    ".wbw-bot{background:#fff;border:1px solid #c5cad3;}",
    ".wbw-me{margin-left:auto;background:#1d4f91;color:#fff;}",
    ".wbw-who{display:block;font-size:.8em;font-weight:700;margin-bottom:2px;}",
    ".wbw-bot .wbw-who{color:#374151;}",
    ".wbw-me .wbw-who{color:#fff;}",
    ".wbw-body{white-space:pre-wrap;}",
    ".wbw-body a{color:#1d4f91;text-decoration:underline;}",
    ".wbw-body pre,.wbw-body code{font-family:ui-monospace,Consolas,monospace;font-size:.9em;white-space:pre-wrap;}",
    ".wbw-img{display:block;max-width:100%;height:auto;margin-top:6px;border-radius:4px;}",
    ".wbw-download{display:inline-block;margin-top:6px;color:#1d4f91;font-weight:600;}",
    ".wbw-buttons{display:flex;flex-wrap:wrap;gap:6px;margin-top:8px;border:0;padding:0;}",
    ".wbw-buttons legend{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;}",
    ".wbw-choice{display:block;width:100%;padding:2px 0;}",
    ".wbw-choice input{width:18px;height:18px;margin:0 6px 0 0;vertical-align:middle;}",
    ".wbw-btn{border:2px solid #1d4f91;border-radius:16px;background:#fff;color:#1d4f91;font:inherit;font-size:.95em;padding:4px 12px;cursor:pointer;min-height:32px;}",
    ".wbw-btn:hover{background:#e8eef7;}",
    ".wbw-btn:disabled{border-color:#6b7280;color:#4b5563;cursor:default;}",
    ".wbw-status{margin:0;padding:4px 12px;font-size:.85em;color:#8a1c1c;background:#fff;}",
    ".wbw-status:empty{padding:0;}", // kept in the accessibility tree: a live region announces what comes in
    ".wbw-form{display:flex;flex-wrap:wrap;gap:6px;padding:8px 10px;border-top:1px solid #c5cad3;background:#fff;}",
    ".wbw-label{flex-basis:100%;font-size:.85em;font-weight:600;color:#374151;}",
    ".wbw-input{flex:1;min-width:0;border:1px solid #6b7280;border-radius:6px;font:inherit;padding:8px;color:#1a1a1a;background:#fff;}",
    ".wbw-input::placeholder{color:#5f6368;}",
    ".wbw-input:disabled{background:#eee;}",
    ".wbw-send{border:0;border-radius:6px;background:#1d4f91;color:#fff;font:inherit;font-weight:600;padding:8px 14px;cursor:pointer;}",
    ".wbw-send:disabled{background:#6b7280;cursor:default;}",
    "@media (max-width:400px){.wbw-root{right:4px;bottom:4px;}.wbw-panel{width:calc(100vw - 8px);height:calc(100vh - 8px);}}",
  ].join("\n");

  var state = { token: null, intro: "", cursor: 0, mine: [], generation: 0 };
  var shown = {}; // message id -> its element
  var els = {};

  // --- storage ---------------------------------------------------------------------------------------------

  function load() {
    try {
      var saved = JSON.parse(window.localStorage.getItem(STORE) || "null");
      if (saved && typeof saved.token === "string") {
        state.token = saved.token;
        state.intro = String(saved.intro || "");
        state.mine = Array.isArray(saved.mine) ? saved.mine.slice(-LOG_LIMIT) : [];
      }
    } catch (e) {
      /* no storage (private mode): a session lasts as long as the page */
    }
  }

  function save() {
    try {
      if (state.token) {
        window.localStorage.setItem(
          STORE,
          JSON.stringify({ token: state.token, intro: state.intro, mine: state.mine.slice(-LOG_LIMIT) })
        );
      } else {
        window.localStorage.removeItem(STORE);
      }
    } catch (e) {
      /* ignored, as in load */
    }
  }

  // --- DOM helpers -----------------------------------------------------------------------------------------

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function safeHref(value) {
    try {
      var url = new URL(value, BASE);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  /* The server's HTML, rebuilt from its parsed tree with only the allowed elements (defense in depth). */
  function rebuild(source, target) {
    for (var node = source.firstChild; node; node = node.nextSibling) {
      if (node.nodeType === 3) {
        target.appendChild(document.createTextNode(node.nodeValue));
      } else if (node.nodeType === 1) {
        var name = node.nodeName.toUpperCase();
        if (SKIPPED[name]) continue;
        if (!ALLOWED[name]) {
          rebuild(node, target); // the element goes, its text stays
          continue;
        }
        var copy = document.createElement(name.toLowerCase());
        if (name === "A") {
          var href = safeHref(node.getAttribute("href") || "");
          if (!href) {
            rebuild(node, target);
            continue;
          }
          copy.setAttribute("href", href);
          copy.setAttribute("rel", "noopener noreferrer");
          copy.setAttribute("target", "_blank");
        }
        if (name !== "BR") rebuild(node, copy);
        target.appendChild(copy);
      }
    }
  }

  function body(html) {
    var div = el("div", "wbw-body");
    var parsed = new DOMParser().parseFromString("<!doctype html><body>" + String(html || ""), "text/html");
    rebuild(parsed.body, div);
    return div;
  }

  function scrollDown() {
    els.log.scrollTop = els.log.scrollHeight;
  }

  function setStatus(text) {
    if (els.status.textContent !== text) els.status.textContent = text;
  }

  // --- messages --------------------------------------------------------------------------------------------

  function botBubble() {
    var bubble = el("div", "wbw-msg wbw-bot");
    bubble.appendChild(el("span", "wbw-who", "wijkbot (chatbot)"));
    return bubble;
  }

  function showIntro() {
    if (!state.intro) return;
    var bubble = botBubble();
    bubble.appendChild(body(escapeText(state.intro)));
    els.log.appendChild(bubble);
  }

  function escapeText(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function showMine(text) {
    var bubble = el("div", "wbw-msg wbw-me");
    bubble.appendChild(el("span", "wbw-who", "Jij"));
    bubble.appendChild(el("div", "wbw-body", text));
    els.log.appendChild(bubble);
    scrollDown();
  }

  function fillBot(bubble, message) {
    while (bubble.childNodes.length > 1) bubble.removeChild(bubble.lastChild);
    bubble.appendChild(body(message.html));
    var image = message.image ? safeHref(String(message.image)) : null;
    if (image) {
      var img = el("img", "wbw-img");
      img.src = image;
      img.alt = bubble.textContent.replace("wijkbot (chatbot)", "").trim() || "Afbeelding van wijkbot";
      bubble.appendChild(img);
    }
    var download = message.download && message.download.url ? safeHref(String(message.download.url)) : null;
    if (download) {
      var link = el("a", "wbw-download", "Download " + String(message.download.name || "bestand"));
      link.href = download;
      link.setAttribute("download", String(message.download.name || ""));
      bubble.appendChild(link);
    }
    var buttons = Array.isArray(message.buttons) ? message.buttons : [];
    if (buttons.length && message.multiple) {
      bubble.appendChild(choices(message, buttons));
    } else if (buttons.length) {
      var group = el("div", "wbw-buttons");
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", "Antwoordknoppen");
      buttons.forEach(function (button) {
        var b = el("button", "wbw-btn", String(button.label));
        b.type = "button";
        b.addEventListener("click", function () {
          send({ button: String(button.value) }, String(button.label));
        });
        group.appendChild(b);
      });
      bubble.appendChild(group);
    }
  }

  function choices(message, buttons) {
    var set = el("fieldset", "wbw-buttons");
    set.appendChild(el("legend", null, "Kies een of meer antwoorden"));
    buttons.forEach(function (button, index) {
      var label = el("label", "wbw-choice");
      var box = el("input");
      box.type = "checkbox";
      box.value = String(button.value);
      box.id = "wbw-c" + message.id + "-" + index;
      label.htmlFor = box.id;
      label.appendChild(box);
      label.appendChild(document.createTextNode(String(button.label)));
      set.appendChild(label);
    });
    var go = el("button", "wbw-btn", "Verstuur keuze");
    go.type = "button";
    go.addEventListener("click", function () {
      var picked = Array.prototype.filter.call(set.querySelectorAll("input"), function (box) {
        return box.checked;
      });
      if (!picked.length) {
        setStatus("Kies eerst een of meer antwoorden.");
        return;
      }
      var labels = picked.map(function (box) {
        return box.parentNode.textContent;
      });
      send(
        {
          choices: picked.map(function (box) {
            return box.value;
          }),
        },
        labels.join(", ")
      );
    });
    set.appendChild(go);
    return set;
  }

  function showBot(message) {
    var target = message.replaces != null ? shown[message.replaces] : null;
    if (target) {
      fillBot(target, message);
    } else {
      var bubble = botBubble();
      fillBot(bubble, message);
      els.log.appendChild(bubble);
      shown[message.id] = bubble;
    }
    scrollDown();
  }

  /* Own messages sent before a reload go back between the bot's, by the cursor they were sent at. */
  var pendingMine = [];

  function receive(messages, cursor) {
    messages.forEach(function (message) {
      while (pendingMine.length && pendingMine[0].after < message.id) showMine(pendingMine.shift().text);
      if (message.replaces == null) els.input.placeholder = message.ask ? String(message.ask) : PLACEHOLDER;
      showBot(message);
    });
    while (pendingMine.length) showMine(pendingMine.shift().text);
    state.cursor = Math.max(state.cursor, cursor);
  }

  // --- the server ------------------------------------------------------------------------------------------

  function api(path, options) {
    options = options || {};
    options.credentials = "omit";
    options.cache = "no-store";
    return fetch(BASE + path, options);
  }

  function post(path, data) {
    return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data) });
  }

  function delay(ms) {
    return new Promise(function (resolve) {
      window.setTimeout(resolve, ms);
    });
  }

  function clientId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map
      .call(bytes, function (b) {
        return ("0" + b.toString(16)).slice(-2);
      })
      .join("");
  }

  function reset(notice) {
    state.generation += 1;
    state.token = null;
    state.intro = "";
    state.cursor = 0;
    state.mine = [];
    pendingMine = [];
    shown = {};
    save();
    while (els.log.firstChild) els.log.removeChild(els.log.firstChild);
    els.input.placeholder = PLACEHOLDER;
    setStatus(notice || "");
  }

  function startSession() {
    if (state.token) return Promise.resolve(true);
    if (state.starting) return state.starting;
    state.starting = post("/chat/session", {})
      .then(function (response) {
        if (response.status !== 201) throw new Error("session " + response.status);
        return response.json();
      })
      .then(function (data) {
        state.token = String(data.token);
        state.intro = String(data.intro || "");
        state.cursor = 0;
        save();
        showIntro();
        listen();
        setStatus("");
        return true;
      })
      .catch(function () {
        setStatus("De chat is nu niet bereikbaar. Probeer het later nog eens.");
        return false;
      })
      .then(function (started) {
        state.starting = null;
        return started;
      });
    return state.starting;
  }

  function listen() {
    var generation = state.generation;
    var failures = 0;
    (async function loop() {
      while (generation === state.generation && state.token) {
        try {
          var response = await api(
            "/chat/messages?token=" +
              encodeURIComponent(state.token) +
              "&after=" +
              state.cursor +
              (failures ? "&wait=0" : "") // after a failure: answer at once, to know we are connected again
          );
          if (generation !== state.generation) return;
          if (response.status === 401) {
            var gone = {};
            try {
              gone = await response.json();
            } catch (e) {
              /* no JSON: nothing more to show */
            }
            reset("Dit gesprek is gewist of verlopen. Typ een bericht om een nieuw gesprek te beginnen.");
            if (gone && gone.farewell) {
              var bubble = botBubble(); // the goodbye after /vergeetmij: its row went with the conversation
              bubble.appendChild(body(gone.farewell));
              els.log.appendChild(bubble);
            }
            return;
          }
          if (!response.ok) throw new Error("messages " + response.status);
          var data = await response.json();
          if (generation !== state.generation) return;
          failures = 0;
          if (els.status.dataset.connection) {
            delete els.status.dataset.connection;
            setStatus("");
          }
          receive(data.messages || [], Number(data.cursor) || 0);
        } catch (e) {
          failures += 1;
          els.status.dataset.connection = "lost";
          setStatus("De verbinding is verbroken. We proberen het opnieuw…");
          var wait = Math.min(30000, 1000 * Math.pow(2, Math.min(failures, 5)));
          await delay(wait / 2 + Math.random() * (wait / 2));
        }
      }
    })();
  }

  function busy(on) {
    els.input.disabled = on;
    els.send.disabled = on;
  }

  async function send(what, shownText) {
    if (els.input.disabled) return;
    busy(true);
    setStatus("");
    var id = clientId();
    var sent = false;
    for (var attempt = 0; attempt < 4 && !sent; attempt++) {
      if (!(await startSession())) break;
      var data = Object.assign({ token: state.token, id: id }, what);
      try {
        var response = await post("/chat/send", data);
        if (response.status === 202) {
          sent = true;
        } else if (response.status === 401) {
          reset("");
          id = clientId();
        } else {
          var answer = {};
          try {
            answer = await response.json();
          } catch (e) {
            /* no JSON: the generic message below */
          }
          setStatus(answer.error || "Je bericht is niet verstuurd. Probeer het nog eens.");
          break;
        }
      } catch (e) {
        setStatus("Versturen lukt nu niet. We proberen het opnieuw…");
        await delay(1000 * (attempt + 1));
      }
    }
    busy(false);
    if (sent) {
      showMine(shownText);
      state.mine.push({ text: shownText, after: state.cursor });
      save();
      setStatus("");
      if (what.text !== undefined) els.input.value = "";
    }
    els.input.focus();
    return sent;
  }

  // --- the widget ------------------------------------------------------------------------------------------

  function open() {
    els.panel.hidden = false;
    els.launcher.hidden = true;
    els.launcher.setAttribute("aria-expanded", "true");
    els.input.focus();
    scrollDown();
    startSession();
  }

  function close() {
    els.panel.hidden = true;
    els.launcher.hidden = false;
    els.launcher.setAttribute("aria-expanded", "false");
    els.launcher.focus();
  }

  function addStyle() {
    try {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      document.adoptedStyleSheets = document.adoptedStyleSheets.concat([sheet]);
    } catch (e) {
      var style = el("style", null, CSS);
      style.setAttribute("data-wbw", "");
      document.head.appendChild(style);
    }
  }

  function build() {
    addStyle();
    var root = el("div", "wbw-root");
    var launcher = el("button", "wbw-launcher", "Chat met de gemeente");
    launcher.type = "button";
    launcher.setAttribute("aria-controls", "wbw-panel");
    launcher.setAttribute("aria-expanded", "false");

    var panel = el("div", "wbw-panel");
    panel.id = "wbw-panel";
    panel.hidden = true;
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-modal", "false");
    panel.setAttribute("aria-labelledby", "wbw-title");
    panel.setAttribute("aria-describedby", "wbw-sub");

    var head = el("div", "wbw-head");
    var titles = el("div");
    var title = el("h2", "wbw-title", "Chat met de gemeente");
    title.id = "wbw-title";
    var sub = el("p", "wbw-sub", "Je praat met wijkbot, een chatbot.");
    sub.id = "wbw-sub";
    titles.appendChild(title);
    titles.appendChild(sub);
    var closer = el("button", "wbw-close", "\u00d7");
    closer.type = "button";
    closer.setAttribute("aria-label", "Chat sluiten");
    head.appendChild(titles);
    head.appendChild(closer);

    var log = el("div", "wbw-log");
    log.setAttribute("role", "log");
    log.setAttribute("aria-live", "polite");
    log.setAttribute("aria-label", "Gesprek met wijkbot");
    log.tabIndex = 0;

    var status = el("p", "wbw-status");
    status.setAttribute("role", "status");

    var form = el("form", "wbw-form");
    var label = el("label", "wbw-label", "Je bericht");
    label.htmlFor = "wbw-input";
    var input = el("input", "wbw-input");
    input.id = "wbw-input";
    input.type = "text";
    input.autocomplete = "off";
    input.maxLength = 4096;
    input.placeholder = PLACEHOLDER;
    var sendButton = el("button", "wbw-send", "Verstuur");
    sendButton.type = "submit";
    form.appendChild(label);
    form.appendChild(input);
    form.appendChild(sendButton);

    panel.appendChild(head);
    panel.appendChild(log);
    panel.appendChild(status);
    panel.appendChild(form);
    root.appendChild(panel);
    root.appendChild(launcher);
    document.body.appendChild(root);
    els = { root: root, launcher: launcher, panel: panel, log: log, status: status, input: input, send: sendButton };

    launcher.addEventListener("click", open);
    closer.addEventListener("click", close);
    panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        event.preventDefault();
        close();
      }
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = input.value.trim();
      if (!text) {
        setStatus("Typ eerst een bericht.");
        return;
      }
      send({ text: text }, text);
    });
  }

  function start() {
    build();
    load();
    if (state.token) {
      showIntro();
      pendingMine = state.mine.slice();
      listen(); // resumes the conversation: everything from cursor 0
    }
  }

  window.wijkbotWidget = { open: open, close: close };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
