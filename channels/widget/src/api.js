// POST /api/chat on the gateway the widget was loaded from, and errors that tell the customer what to do.

import { format } from "./strings.js";

export class ChatError extends Error {
  /** `userMessage` is what the widget shows; `status` is the HTTP status (0: no answer at all). */
  constructor(userMessage, status) {
    super(userMessage);
    this.userMessage = userMessage;
    this.status = status;
  }
}

function waitText(response, words) {
  const header = response.headers.get("Retry-After");
  const seconds = header && /^\d+$/.test(header.trim()) ? Number(header) : null;
  return seconds ? format(words.errorWaitSeconds, { n: seconds }) : words.errorWaitMoment;
}

/** The ChatError for a refused request, in the interface's words. */
export function errorFor(response, body, words, maxChars) {
  const detail = body && typeof body.error === "string" ? body.error : "";
  switch (response.status) {
    case 413: {
      const limit = /at most (\d+)/.exec(detail); // "text is 2500 characters; at most 2000 are accepted"
      return new ChatError(format(words.errorTooLong, { max: limit ? limit[1] : maxChars }), 413);
    }
    case 429:
      return new ChatError(format(words.errorTooMany, { wait: waitText(response, words) }), 429);
    case 502:
    case 503:
    case 504:
      return new ChatError(words.errorUnavailable, response.status);
    default:
      if (response.status >= 400 && response.status < 500 && detail) {
        return new ChatError(format(words.errorInvalid, { detail }), response.status);
      }
      return new ChatError(words.errorOther, response.status);
  }
}

const RETRY_DELAYS_MS = [1000, 3000, 8000]; // after no reply, a gateway error (502-504): the same message again

/** A fresh idempotency key for one message (the gateway answers a key once, however often it is sent). */
export function messageKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** POST /api/chat once; the response, or null when no answer came at all. */
async function sendOnce(origin, sessionId, text, key) {
  const body = { text, idempotency_key: key };
  if (sessionId) body.session_id = sessionId;
  try {
    return await fetch(origin + "/api/chat", {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
  } catch {
    return null;
  }
}

/** Send `text` in `sessionId`'s conversation; the reply's {session_id, messages}, or a ChatError. A message
 * that got no reply, or a gateway error, is sent again with the same idempotency key `key`, so the gateway
 * answers it once and a reply made while the connection was lost still arrives. */
export async function postChat(origin, sessionId, text, words, maxChars, key = messageKey()) {
  let response = await sendOnce(origin, sessionId, text, key);
  for (const delay of RETRY_DELAYS_MS) {
    if (response && ![502, 503, 504].includes(response.status)) break;
    await sleep(delay);
    response = await sendOnce(origin, sessionId, text, key);
  }
  if (!response) throw new ChatError(words.errorNetwork, 0);
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) throw errorFor(response, body, words, maxChars);
  if (!body || typeof body.session_id !== "string" || !Array.isArray(body.messages)) {
    throw new ChatError(words.errorOther, response.status);
  }
  return body;
}

/** What "Text me this / Email me this" may offer (GET /api/chat/send), or null when it can't be asked. */
export async function getShareOptions(origin) {
  try {
    const response = await fetch(origin + "/api/chat/send", { mode: "cors", credentials: "omit" });
    if (!response.ok) return null;
    const body = await response.json();
    return body && typeof body === "object" ? { sms: body.sms === true, email: body.email === true } : null;
  } catch {
    return null;
  }
}

/** Send the conversation's last answer to `to` by `channel` with the customer's consent; a ChatError on refusal. */
export async function postShare(origin, sessionId, channel, to, words) {
  let response;
  try {
    response = await fetch(origin + "/api/chat/send", {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ session_id: sessionId, channel, to, consent: true }),
    });
  } catch {
    throw new ChatError(words.errorNetwork, 0);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) throw errorFor(response, body, words, 0);
  return body;
}

/** Answers the guidance gives now to questions this session asked before (GET /api/chat/notices); [] on error. */
export async function getNotices(origin, sessionId) {
  try {
    const url = `${origin}/api/chat/notices?session_id=${encodeURIComponent(sessionId)}`;
    const response = await fetch(url, { mode: "cors", credentials: "omit" });
    if (!response.ok) return [];
    const body = await response.json();
    return body && Array.isArray(body.notices) ? body.notices : [];
  } catch {
    return [];
  }
}
