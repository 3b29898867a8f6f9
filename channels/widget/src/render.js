// Building the widget's elements. Every text from the server goes in with textContent, never innerHTML;
// only http(s) URLs become links.


const HTTP = /^https?:\/\//i;
let counter = 0;

/** A fresh id for aria-labelledby links between elements. */
export function uid(prefix) {
  counter += 1;
  return `psa-chat-${prefix}-${counter}`;
}

/** An element with a class and text content (as text, never as markup). */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/** A plain <button type="button">. */
export function button(className, text) {
  const node = el("button", className, text);
  node.type = "button";
  return node;
}

/** "May 1, 2024" / "1 de mayo de 2024" for a date that starts YYYY-MM-DD, else null. */
export function formatDate(value, lang) {
  const match = /^(\d{4})-(\d{2})-(\d{2})/.exec(value || "");
  if (!match) return null;
  const date = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
  if (Number.isNaN(date.getTime())) return null;
  const locale = lang === "es" ? "es-US" : "en-US";
  return {
    iso: `${match[1]}-${match[2]}-${match[3]}`,
    text: new Intl.DateTimeFormat(locale, { dateStyle: "long", timeZone: "UTC" }).format(date),
  };
}

/** True for the only URLs that may become links. */
export function isHttpUrl(value) {
  return typeof value === "string" && HTTP.test(value);
}

function sourceLine(message, words) {
  if (!message.answered || !(message.source_url || message.source_title)) return null;
  const line = el("p", "psa-chat__source");
  line.appendChild(el("span", "psa-chat__label", words.source + " "));
  const title = message.source_title || message.source_url;
  if (isHttpUrl(message.source_url)) {
    const link = el("a", "usa-link psa-chat__source-link", title);
    link.href = message.source_url;
    line.appendChild(link);
  } else {
    line.appendChild(el("span", null, title));
  }
  return line;
}

function updatedLine(message, words) {
  if (!message.answered || !message.last_updated) return null;
  const line = el("p", "psa-chat__updated", words.updated + " ");
  const date = formatDate(message.last_updated, message.lang === "es" ? "es" : "en");
  if (date) {
    const time = el("time", null, date.text);
    time.dateTime = date.iso;
    line.appendChild(time);
  } else {
    line.appendChild(el("span", null, message.last_updated));
  }
  return line;
}

/** A group of quick-reply buttons labelled by `labelId`; each calls onPick(payload, title). */
function quickReplies(options, labelId, className, onPick) {
  const group = el("div", `psa-chat__replies ${className}`);
  group.setAttribute("role", "group");
  group.setAttribute("aria-labelledby", labelId);
  for (const option of options) {
    const reply = button("usa-button usa-button--outline psa-chat__reply", option.title);
    reply.addEventListener("click", () => {
      if (!reply.disabled) onPick(option.payload, option.title);
    });
    group.appendChild(reply);
  }
  return group;
}

/** A radio button with its label, USWDS style. */
function radio(name, value, text, checked) {
  const item = el("div", "usa-radio");
  const input = el("input", "usa-radio__input");
  input.type = "radio";
  input.name = name;
  input.value = value;
  input.id = uid("radio");
  input.checked = checked;
  const label = el("label", "usa-radio__label", text);
  label.htmlFor = input.id;
  item.append(input, label);
  return { item, input };
}

/** "Text me this / Email me this": a disclosure under the latest answer, when the gateway can send
 * (`actions.shareOptions` from GET /api/chat/send). It asks for a number or address and explicit consent,
 * then calls `actions.share(channel, to)`, which resolves to the message to show. */
export function shareSlot(message, words, actions) {
  const options = actions.shareOptions;
  if (!message.answered || !options || !(options.sms || options.email)) return null;
  const box = el("details", "psa-chat__share");
  box.appendChild(el("summary", "psa-chat__share-summary", options.sms ? words.shareSummary : words.shareSummaryEmail));
  const form = el("form", "usa-form psa-chat__share-form");
  form.noValidate = true;
  const group = el("fieldset", "usa-fieldset");
  group.appendChild(el("legend", "usa-legend psa-chat__share-legend", words.shareHow));
  const name = uid("share");
  const choices = [];
  if (options.sms) choices.push(radio(name, "sms", words.shareSms, true));
  if (options.email) choices.push(radio(name, "email", words.shareEmail, !options.sms));
  for (const choice of choices) group.appendChild(choice.item);
  const toId = uid("to");
  const toLabel = el("label", "usa-label", options.sms ? words.sharePhone : words.shareAddress);
  toLabel.htmlFor = toId;
  const to = el("input", "usa-input psa-chat__share-to");
  to.id = toId;
  to.autocomplete = options.sms ? "tel" : "email";
  to.type = options.sms ? "tel" : "email";
  to.maxLength = 254;
  for (const choice of choices) {
    choice.input.addEventListener("change", () => {
      const sms = choice.input.value === "sms";
      toLabel.textContent = sms ? words.sharePhone : words.shareAddress;
      to.type = sms ? "tel" : "email";
      to.autocomplete = sms ? "tel" : "email";
    });
  }
  const consent = el("div", "usa-checkbox");
  const tick = el("input", "usa-checkbox__input");
  tick.type = "checkbox";
  tick.id = uid("consent");
  const tickLabel = el("label", "usa-checkbox__label", words.shareConsent);
  tickLabel.htmlFor = tick.id;
  consent.append(tick, tickLabel);
  const send = el("button", "usa-button psa-chat__share-send", words.shareSend);
  send.type = "submit";
  const result = el("p", "psa-chat__share-result");
  result.setAttribute("role", "status");
  form.append(group, toLabel, to, consent, send, result);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const channel = (choices.find((choice) => choice.input.checked) || choices[0]).input.value;
    if (!to.value.trim()) {
      result.textContent = channel === "sms" ? words.shareNeedPhone : words.shareNeedAddress;
      to.focus();
      return;
    }
    if (!tick.checked) {
      result.textContent = words.shareNeedConsent;
      tick.focus();
      return;
    }
    send.disabled = true;
    result.textContent = words.shareSending;
    result.textContent = await actions.share(channel, to.value.trim());
    send.disabled = false;
  });
  box.appendChild(form);
  return box;
}

/** One customer message. */
export function renderMine(entry, words) {
  const bubble = el("div", "psa-chat__msg psa-chat__msg--me");
  bubble.appendChild(el("span", "usa-sr-only", words.you + " "));
  bubble.appendChild(el("p", "psa-chat__text", entry.text));
  return bubble;
}

/** One assistant message: its text, source link and date, then its quick replies. */
export function renderBot(message, words, actions) {
  const bubble = el("div", `psa-chat__msg psa-chat__msg--bot psa-chat__msg--${message.kind.replace(/[^a-z_-]/gi, "")}`);
  if (message.lang === "en" || message.lang === "es") bubble.lang = message.lang;
  bubble.appendChild(el("span", "usa-sr-only", words.assistant + " "));
  const text = el("p", "psa-chat__text", message.text);
  text.id = uid("text");
  bubble.appendChild(text);
  for (const line of [sourceLine(message, words), updatedLine(message, words)]) {
    if (line) bubble.appendChild(line);
  }
  if (message.choices.length) {
    bubble.appendChild(quickReplies(message.choices, text.id, "psa-chat__choices", actions.pick));
  }
  if (message.feedback) {
    const prompt = el("p", "psa-chat__feedback-prompt", message.feedback.prompt);
    prompt.id = uid("feedback");
    bubble.appendChild(prompt);
    bubble.appendChild(quickReplies(message.feedback.buttons, prompt.id, "psa-chat__feedback", actions.pick));
  }
  const share = shareSlot(message, words, actions);
  if (share) bubble.appendChild(share);
  return bubble;
}

/** An error that says what to do; it is not kept in the history. */
export function renderError(text) {
  const bubble = el("div", "psa-chat__msg psa-chat__msg--error");
  bubble.appendChild(el("p", "psa-chat__text", text));
  return bubble;
}
