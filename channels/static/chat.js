// The web chat widget. Every text goes into the page with textContent, never innerHTML; links are http(s) only.
// It only renders: choices and "Was this helpful?" buttons send back the payload the assistant gave them.
(function () {
  "use strict";
  const log = document.getElementById("chat-log");
  const form = document.getElementById("chat-form");
  const input = document.getElementById("chat-input");
  const send = document.getElementById("chat-send");
  const status = document.getElementById("chat-status");
  const HTTP = /^https?:\/\//i;
  const LANG = /^[a-z]{2}(-[A-Za-z]{2})?$/;
  let sessionId = sessionStorage.getItem("chat-session") || null;
  let busy = false;
  let counter = 0;

  function text(tag, className, content) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    el.textContent = content;
    return el;
  }

  // A group of quick-reply buttons, labelled by the question they answer. Each sends its payload and shows
  // its title as the customer's message.
  function quickReplies(options, labelId, spanish) {
    const group = document.createElement("div");
    group.className = "quick-replies";
    group.setAttribute("role", "group");
    if (labelId) group.setAttribute("aria-labelledby", labelId);
    else group.setAttribute("aria-label", spanish ? "Respuestas rápidas" : "Quick replies");
    options.forEach(function (option) {
      if (!option || typeof option.title !== "string" || typeof option.payload !== "string") return;
      const button = text("button", "quick-reply", option.title);
      button.type = "button";
      button.addEventListener("click", function () {
        if (busy || button.disabled) return;
        ask(option.payload, option.title);
      });
      group.appendChild(button);
    });
    return group;
  }

  function add(role, content, message) {
    const div = document.createElement("div");
    div.className = "msg " + role;
    const id = "msg-" + ++counter;
    const body = text("span", "text", content);
    body.id = id + "-text";
    div.appendChild(body);
    if (message && typeof message.lang === "string" && LANG.test(message.lang)) div.lang = message.lang;
    const spanish = !!(message && message.lang === "es");
    if (message && message.answered && typeof message.source_url === "string" && HTTP.test(message.source_url)) {
      const link = text("a", "source", (spanish ? "Fuente: " : "Source: ") + (message.source_title || message.source_url));
      link.href = message.source_url;
      div.appendChild(link);
      if (message.last_updated) {
        div.appendChild(text("span", "meta", (spanish ? "Página actualizada el " : "Page updated ") + message.last_updated));
      }
    }
    if (message && Array.isArray(message.choices) && message.choices.length) {
      div.appendChild(quickReplies(message.choices, body.id, spanish));
    }
    if (message && message.feedback && typeof message.feedback.prompt === "string" && Array.isArray(message.feedback.buttons)) {
      const prompt = text("p", "feedback-prompt", message.feedback.prompt);
      prompt.id = id + "-feedback";
      div.appendChild(prompt);
      div.appendChild(quickReplies(message.feedback.buttons, prompt.id, spanish));
    }
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
    return div;
  }

  // Quick replies answer the assistant's last message only: once the customer says anything, older ones go.
  function retireQuickReplies() {
    log.querySelectorAll("button.quick-reply").forEach(function (button) { button.disabled = true; });
  }

  // Send `payload` to the assistant, showing `shown` (what the customer typed, or the button's title).
  async function ask(payload, shown) {
    busy = true;
    retireQuickReplies();
    add("me", shown === undefined ? payload : shown);
    send.disabled = true;
    status.textContent = "Looking that up…";
    try {
      const response = await fetch("/api/chat", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(sessionId ? { session_id: sessionId, text: payload } : { text: payload }),
      });
      const body = await response.json();
      if (!response.ok) {
        add("bot", "Sorry: " + (body.error || "something went wrong") + ".");
        return;
      }
      sessionId = body.session_id;
      sessionStorage.setItem("chat-session", sessionId);
      body.messages.forEach(function (m) { add("bot", String(m.text), m); });
    } catch (err) {
      add("bot", "Sorry, I couldn't reach the assistant. Please check your connection and try again.");
    } finally {
      busy = false;
      send.disabled = false;
      status.textContent = "";
      input.focus();
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const question = input.value.trim();
    if (!question) { status.textContent = "Please type a question first."; return; }
    if (busy) return;
    input.value = "";
    ask(question);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
  });
})();
