// The conversation kept in localStorage: the session id and what was shown, so a reload or an idle gap
// continues the same conversation. Only data is kept, never markup: history is rendered again as text.

// As long as Rasa keeps a session open (assistant/domain/session.yml, session_expiration_time): past this
// idle time the widget starts a new conversation, so a shared computer doesn't show the last person's.
export const KEEP_MINUTES = 240;
const MAX_ENTRIES = 200;
const VERSION = 1;

function keyFor(origin) {
  return `psa-chat:v${VERSION}:${origin}`;
}

function empty() {
  return { sessionId: null, entries: [], lang: null, open: false, savedAt: 0 };
}

/** localStorage, or null where it is blocked (private windows, storage off). */
function storage() {
  try {
    const probe = "psa-chat:probe";
    window.localStorage.setItem(probe, "1");
    window.localStorage.removeItem(probe);
    return window.localStorage;
  } catch {
    return null;
  }
}

function str(value) {
  return typeof value === "string" && value ? value : null;
}

/** Only the fields the widget renders, checked for type, so a tampered store can't feed it anything else. */
export function cleanMessage(m) {
  if (!m || typeof m !== "object") return null;
  const buttons = (list) =>
    (Array.isArray(list) ? list : [])
      .filter((b) => b && typeof b.title === "string" && typeof b.payload === "string")
      .map((b) => ({ title: b.title, payload: b.payload }));
  const feedback =
    m.feedback && typeof m.feedback.prompt === "string" ? { prompt: m.feedback.prompt, buttons: buttons(m.feedback.buttons) } : null;
  return {
    text: typeof m.text === "string" ? m.text : String(m.text ?? ""),
    answered: m.answered === true,
    source_url: str(m.source_url),
    source_title: str(m.source_title),
    last_updated: str(m.last_updated),
    kind: str(m.kind) || "text",
    lang: str(m.lang),
    choices: buttons(m.choices),
    feedback: feedback && feedback.buttons.length ? feedback : null,
  };
}

function cleanEntry(entry) {
  if (!entry || (entry.role !== "me" && entry.role !== "bot") || typeof entry.text !== "string") return null;
  return entry.role === "me" ? { role: "me", text: entry.text } : { role: "bot", ...cleanMessage(entry) };
}

/** The saved conversation for widgets loaded from `origin`, or an empty one (none, unreadable, or too old). */
export function load(origin, now = Date.now()) {
  const store = storage();
  if (!store) return empty();
  let saved;
  try {
    saved = JSON.parse(store.getItem(keyFor(origin)) || "null");
  } catch {
    saved = null;
  }
  if (!saved || typeof saved !== "object") return empty();
  const savedAt = Number(saved.savedAt) || 0;
  if (now - savedAt > KEEP_MINUTES * 60_000) {
    store.removeItem(keyFor(origin));
    return empty();
  }
  return {
    sessionId: typeof saved.sessionId === "string" ? saved.sessionId : null,
    entries: (Array.isArray(saved.entries) ? saved.entries : []).map(cleanEntry).filter(Boolean),
    lang: str(saved.lang),
    open: saved.open === true,
    savedAt,
  };
}

/** Keep `state` (the newest MAX_ENTRIES entries); a full or blocked storage only loses persistence. */
export function save(origin, state) {
  const store = storage();
  if (!store) return;
  const record = {
    sessionId: state.sessionId,
    entries: state.entries.slice(-MAX_ENTRIES),
    lang: state.lang,
    open: state.open,
    savedAt: Date.now(),
  };
  try {
    store.setItem(keyFor(origin), JSON.stringify(record));
  } catch {
    // Quota exceeded: the conversation still works, it just won't survive a reload.
  }
}

/** Forget the conversation ("Start over"). */
export function clear(origin) {
  const store = storage();
  if (store) store.removeItem(keyFor(origin));
}
