// The web chat widget. Every text goes into the page with textContent, never innerHTML.
(function () {
  "use strict";
  const log = document.getElementById("chat-log");
  const form = document.getElementById("chat-form");
  const input = document.getElementById("chat-input");
  const send = document.getElementById("chat-send");
  const status = document.getElementById("chat-status");
  let sessionId = sessionStorage.getItem("chat-session") || null;

  function add(role, text, message) {
    const div = document.createElement("div");
    div.className = "msg " + role;
    div.textContent = text;
    if (message && message.answered && message.source_url && /^https?:\/\//.test(message.source_url)) {
      const link = document.createElement("a");
      link.className = "source";
      link.href = message.source_url;
      link.textContent = "Source: " + (message.source_title || message.source_url);
      div.appendChild(link);
      if (message.last_updated) {
        const meta = document.createElement("span");
        meta.className = "meta";
        meta.textContent = "Page updated " + message.last_updated;
        div.appendChild(meta);
      }
    }
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
    return div;
  }

  async function ask(text) {
    add("me", text);
    send.disabled = true;
    status.textContent = "Looking that up…";
    try {
      const response = await fetch("/api/chat", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(sessionId ? { session_id: sessionId, text: text } : { text: text }),
      });
      const body = await response.json();
      if (!response.ok) {
        add("bot", "Sorry: " + (body.error || "something went wrong") + ".");
        return;
      }
      sessionId = body.session_id;
      sessionStorage.setItem("chat-session", sessionId);
      body.messages.forEach(function (m) { add("bot", m.text, m); });
    } catch (err) {
      add("bot", "Sorry, I couldn't reach the assistant. Please check your connection and try again.");
    } finally {
      send.disabled = false;
      status.textContent = "";
      input.focus();
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) { status.textContent = "Please type a question first."; return; }
    input.value = "";
    ask(text);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
  });
})();
