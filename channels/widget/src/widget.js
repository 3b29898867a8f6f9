// The embeddable web chat widget. An agency adds one tag:
//   <script src="https://gateway.example/static/widget/widget.js" defer></script>
// (optionally data-lang="es", data-title="…", data-open="true"). The script adds its stylesheets and its own
// markup, and talks to the gateway it was loaded from (POST /api/chat).

import { ChatError, getNotices, getShareOptions, messageKey, postChat, postShare } from "./api.js";
import { button, el, renderBot, renderError, renderMine, uid } from "./render.js";
import { clear, cleanMessage, load, save } from "./store.js";
import { STRINGS, format, pickLanguage, supported } from "./strings.js";

const SCRIPT_PATH = "/static/widget/widget.js";
const MAX_CHARS = 2000; // the gateway's default MAX_MESSAGE_CHARS; the gateway still checks (413)
const OPTIONS_WAIT_MS = 2000; // how long the widget waits to learn whether it may offer "Text me this"

/** The <script> tag that loaded the widget. */
function ownScript() {
  const current = document.currentScript;
  if (current && current.src) return current;
  const tags = document.querySelectorAll(`script[src*="${SCRIPT_PATH}"]`);
  return tags.length ? tags[tags.length - 1] : null;
}

/** Add a stylesheet link unless the page has it (the same file, or for USWDS any copy of its CSS). */
function addStylesheet(href, alreadyThere) {
  const links = Array.from(document.querySelectorAll('link[rel~="stylesheet"]'));
  if (links.some((link) => link.href === href || (alreadyThere && alreadyThere.test(link.href)))) return;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = href;
  document.head.appendChild(link);
}

class ChatWidget {
  constructor(origin, options, shareOptions) {
    this.origin = origin;
    this.options = options;
    this.shareOptions = shareOptions;
    this.state = load(origin);
    if (options.open) this.state.open = true;
    this.busy = false;
    this.build();
    this.renderHistory();
    this.applyLanguage();
    this.setOpen(this.state.open, false);
  }

  /** The interface language: the conversation's (the assistant's last language), else the page's. */
  get lang() {
    return supported(this.state.lang) || this.options.lang;
  }

  get words() {
    return STRINGS[this.lang];
  }

  build() {
    const root = el("aside", "psa-chat"); // a landmark of its own, wherever the page puts it
    root.dataset.psaChat = "";
    const panelId = uid("panel");
    const titleId = uid("title");
    const inputId = uid("input");
    const hintId = uid("hint");
    const statusId = uid("status");

    this.launcher = button("usa-button psa-chat__launcher");
    this.launcher.setAttribute("aria-controls", panelId);
    this.launcher.addEventListener("click", () => this.setOpen(!this.state.open, true));

    this.panel = el("section", "psa-chat__panel");
    this.panel.id = panelId;
    this.panel.setAttribute("aria-labelledby", titleId);
    this.panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        this.setOpen(false, true);
      }
    });

    const header = el("div", "psa-chat__header");
    this.title = el("h2", "psa-chat__title");
    this.title.id = titleId;
    const tools = el("div", "psa-chat__tools");
    this.restart = button("usa-button usa-button--unstyled psa-chat__restart");
    this.restart.addEventListener("click", () => this.startOver());
    this.close = button("usa-button usa-button--unstyled psa-chat__close");
    this.close.addEventListener("click", () => this.setOpen(false, true));
    tools.append(this.restart, this.close);
    header.append(this.title, tools);

    this.intro = el("p", "psa-chat__intro");
    this.log = el("div", "psa-chat__log");
    this.log.setAttribute("role", "log");
    this.log.setAttribute("aria-live", "polite");
    this.log.tabIndex = 0; // a scrolling region keyboard users can scroll

    this.status = el("div", "psa-chat__status");
    this.status.id = statusId;
    this.status.setAttribute("role", "status");
    this.dots = el("span", "psa-chat__dots");
    this.dots.setAttribute("aria-hidden", "true");
    this.dots.append(el("span"), el("span"), el("span"));
    this.dots.hidden = true;
    this.statusText = el("span", "psa-chat__status-text");
    this.status.append(this.dots, this.statusText);

    this.form = el("form", "usa-form psa-chat__form");
    this.form.noValidate = true;
    this.label = el("label", "usa-label psa-chat__label-input");
    this.label.htmlFor = inputId;
    this.hint = el("span", "usa-hint psa-chat__hint");
    this.hint.id = hintId;
    this.input = el("textarea", "usa-textarea psa-chat__input");
    this.input.id = inputId;
    this.input.name = "text";
    this.input.rows = 2;
    this.input.maxLength = MAX_CHARS;
    this.input.autocomplete = "off";
    this.input.setAttribute("aria-describedby", `${hintId} ${statusId}`);
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.form.requestSubmit();
      }
    });
    this.send = el("button", "usa-button psa-chat__send");
    this.send.type = "submit";
    const row = el("div", "psa-chat__row");
    row.append(this.input, this.send);
    this.form.append(this.label, this.hint, row);
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submitTyped();
    });

    this.panel.append(header, this.intro, this.log, this.status, this.form);
    root.append(this.launcher, this.panel);
    this.root = root;
  }

  /** Relabel everything in the interface language (it follows the assistant into Spanish and back). */
  applyLanguage() {
    const words = this.words;
    this.root.lang = this.lang;
    this.root.setAttribute("aria-label", this.options.title || words.title);
    this.launcher.textContent = this.options.title || words.launcher;
    this.title.textContent = this.options.title || words.title;
    this.restart.textContent = words.startOver;
    this.close.textContent = words.close;
    this.close.setAttribute("aria-label", words.closeLabel);
    this.intro.textContent = words.intro;
    this.log.setAttribute("aria-label", words.conversation);
    this.label.textContent = words.label;
    this.hint.textContent = words.hint;
    this.input.placeholder = words.placeholder;
    this.send.textContent = words.send;
  }

  /** Words for one assistant message: its own language's when it has one. */
  wordsFor(message) {
    return STRINGS[supported(message.lang) || this.lang];
  }

  actions() {
    return {
      pick: (payload, title) => this.ask(payload, title, false),
      shareOptions: this.shareOptions,
      share: (channel, to) => this.share(channel, to),
    };
  }

  renderEntry(entry) {
    return entry.role === "me" ? renderMine(entry, this.words) : renderBot(entry, this.wordsFor(entry), this.actions());
  }

  /** The saved conversation, drawn before the widget joins the page so screen readers don't re-read it. */
  renderHistory() {
    this.log.replaceChildren(...this.state.entries.map((entry) => this.renderEntry(entry)));
    this.refreshReplies();
  }

  /** Quick replies answer only the assistant's messages since the customer last spoke. */
  refreshReplies() {
    const bubbles = Array.from(this.log.querySelectorAll(".psa-chat__msg"));
    let live = true;
    for (let i = bubbles.length - 1; i >= 0; i -= 1) {
      const mine = bubbles[i].classList.contains("psa-chat__msg--me");
      if (mine && !bubbles[i].classList.contains("psa-chat__msg--unsent")) live = false;
      for (const reply of bubbles[i].querySelectorAll(".psa-chat__reply")) reply.disabled = !live || this.busy;
    }
    // The gateway sends the conversation's last answer, so only the latest answer offers to be sent.
    const shares = Array.from(this.log.querySelectorAll(".psa-chat__share"));
    shares.forEach((share, i) => {
      share.hidden = i !== shares.length - 1;
    });
  }

  append(node) {
    this.log.appendChild(node);
    this.scrollToLatest();
  }

  /** Show the latest turn from the customer's question down: a long answer is read from its start. */
  scrollToLatest() {
    const mine = Array.from(this.log.querySelectorAll(".psa-chat__msg--me")).pop();
    this.log.scrollTop = mine ? Math.max(0, mine.offsetTop - 8) : this.log.scrollHeight;
  }

  persist() {
    save(this.origin, this.state);
  }

  setOpen(open, moveFocus) {
    this.state.open = open;
    this.panel.hidden = !open;
    this.root.classList.toggle("psa-chat--open", open);
    this.launcher.setAttribute("aria-expanded", String(open));
    if (open) this.scrollToLatest();
    if (moveFocus) {
      (open ? this.input : this.launcher).focus();
      this.persist();
    }
  }

  say(text, typing) {
    this.dots.hidden = !typing;
    this.statusText.textContent = text;
  }

  submitTyped() {
    const text = this.input.value.trim();
    if (!text) {
      this.say(this.words.empty, false);
      this.input.focus();
      return;
    }
    if (this.busy) return;
    this.input.value = "";
    this.ask(text, text, true);
  }

  /** Send `payload`, showing `shown` as the customer's message (a button shows its title). */
  async ask(payload, shown, typed) {
    if (this.busy) return;
    this.busy = true;
    const mine = { role: "me", text: shown };
    this.state.entries.push(mine);
    this.append(renderMine(mine, this.words));
    this.refreshReplies();
    this.send.disabled = true;
    this.say(this.words.typing, true);
    this.input.focus();
    // the same message sent again after it got no reply keeps its key: the gateway answers it once
    const key = this.unsent && this.unsent.payload === payload ? this.unsent.key : messageKey();
    try {
      const reply = await postChat(this.origin, this.state.sessionId, payload, this.words, MAX_CHARS, key);
      this.unsent = null;
      this.state.sessionId = reply.session_id;
      for (const raw of reply.messages) {
        const message = cleanMessage(raw);
        if (!message) continue;
        const entry = { role: "bot", ...message };
        this.state.entries.push(entry);
        if (supported(message.lang)) this.state.lang = supported(message.lang);
        this.append(renderBot(entry, this.wordsFor(entry), this.actions()));
      }
      this.applyLanguage();
    } catch (error) {
      if (!(error instanceof ChatError)) throw error;
      this.unsent = error.status === 0 || error.status >= 500 ? { payload, key } : null;
      this.state.entries.splice(this.state.entries.indexOf(mine), 1); // not sent: not part of the history
      this.log.lastElementChild?.classList.add("psa-chat__msg--unsent");
      this.append(renderError(error.userMessage));
      if (typed && !this.input.value) this.input.value = shown; // ready to send again
    } finally {
      this.busy = false;
      this.send.disabled = false;
      this.say("", false);
      this.refreshReplies();
      this.persist();
      if (!this.panel.hidden) this.input.focus();
    }
  }

  /** On a return visit: answers our guidance gives now to questions this conversation could not get answered
   * before. Each comes once (the gateway marks it told), is kept in the history and is announced. */
  async showNotices() {
    if (!this.state.sessionId) return;
    const notices = await getNotices(this.origin, this.state.sessionId);
    let shown = 0;
    for (const notice of notices) {
      for (const raw of Array.isArray(notice.messages) ? notice.messages : []) {
        const message = cleanMessage(raw);
        if (!message) continue;
        const entry = { role: "bot", ...message };
        this.state.entries.push(entry);
        this.append(renderBot(entry, this.wordsFor(entry), this.actions()));
        shown += 1;
      }
    }
    if (shown) {
      this.refreshReplies();
      this.persist();
      if (!this.state.open) this.launcher.textContent = this.words.launcherNews;
    }
  }

  /** Text or email the conversation's last answer; the sentence to show the customer. */
  async share(channel, to) {
    const words = this.words;
    try {
      await postShare(this.origin, this.state.sessionId, channel, to, words);
      return format(channel === "sms" ? words.shareSentSms : words.shareSentEmail, { to });
    } catch (error) {
      if (!(error instanceof ChatError)) throw error;
      return error.userMessage;
    }
  }

  /** Forget the conversation here and start a new session with the next message. */
  startOver() {
    if (this.busy) return;
    clear(this.origin);
    this.state = { sessionId: null, entries: [], lang: null, open: true, savedAt: 0 };
    this.log.replaceChildren();
    this.applyLanguage();
    this.say(this.words.restarted, false);
    this.persist();
    this.input.focus();
  }
}

/** GET /api/chat/send, given up on after OPTIONS_WAIT_MS so a slow gateway doesn't hold the widget back. */
function shareOptionsFor(origin) {
  const late = new Promise((resolve) => setTimeout(() => resolve(null), OPTIONS_WAIT_MS));
  return Promise.race([getShareOptions(origin), late]);
}

/** Build the widget for the tag that loaded it and add it to the end of the page. */
async function start(script) {
  if (!script || document.querySelector("[data-psa-chat]")) return;
  const origin = new URL(script.src, document.baseURI).origin;
  const data = script.dataset;
  addStylesheet(`${origin}/static/uswds/css/uswds.min.css`, /\/uswds(\.min)?\.css(\?|#|$)/);
  addStylesheet(`${origin}/static/widget/widget.css`);
  const shareOptions = await shareOptionsFor(origin);
  if (document.querySelector("[data-psa-chat]")) return;
  const browser = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
  const widget = new ChatWidget(origin, {
    lang: pickLanguage(data.lang, document.documentElement.lang, browser),
    title: data.title ? String(data.title).slice(0, 80) : "",
    open: data.open === "true",
  }, shareOptions);
  document.body.appendChild(widget.root);
  widget.showNotices();
}

const script = ownScript(); // only while the script runs: document.currentScript is null afterwards
if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", () => start(script));
} else {
  start(script);
}
