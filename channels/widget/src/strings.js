// The widget's own words, in English and Spanish. Everything the server says is shown as it came.

export const STRINGS = {
  en: {
    launcher: "Ask a question",
    launcherNews: "Ask a question (we have a new answer for you)",
    title: "Ask a question",
    intro:
      "Answers come from our published guidance, with a link to the page they are from. " +
      "Don't include personal details such as your case number.",
    close: "Close",
    closeLabel: "Close the chat",
    startOver: "Start over",
    conversation: "Conversation",
    label: "Your question",
    hint: "Press Enter to send, Shift+Enter for a new line.",
    placeholder: "For example: how do I appeal a decision?",
    send: "Send",
    you: "You said:",
    assistant: "Assistant:",
    typing: "The assistant is looking that up…",
    empty: "Please type a question first.",
    source: "Source:",
    updated: "Updated",
    choices: "Pick one",
    restarted: "You started a new conversation.",
    errorUnavailable: "The assistant isn't available right now. Please try again in a minute.",
    errorTooLong: "That message is too long. Please shorten it (at most {max} characters) and send it again.",
    errorTooMany: "You've sent a lot of messages in a short time. Please wait {wait} and try again.",
    errorWaitSeconds: "{n} seconds",
    errorWaitMoment: "a minute",
    errorNetwork: "We couldn't reach the assistant. Check your internet connection, then send your question again.",
    errorInvalid: "The assistant couldn't read that message ({detail}). Please rephrase it and try again.",
    errorOther: "Something went wrong on our side. Please try again in a moment.",
    shareSummary: "Text or email me this answer",
    shareSummaryEmail: "Email me this answer",
    shareHow: "Send it by",
    shareSms: "Text message",
    shareEmail: "Email",
    sharePhone: "Mobile number, with the country code (for example +1 555 010 4477)",
    shareAddress: "Email address",
    shareConsent:
      "I agree to get this answer and a code that lets me carry on this conversation by text or email. " +
      "Nothing else is sent. Reply STOP to a text to stop texts.",
    shareSend: "Send it to me",
    shareSending: "Sending…",
    shareNeedPhone: "Type your mobile number first.",
    shareNeedAddress: "Type your email address first.",
    shareNeedConsent: "Tick the box to agree first.",
    shareSentSms: "We texted the answer to {to}, with a code. Text the code back to carry on this conversation.",
    shareSentEmail: "We're emailing the answer to {to}, with a code. Reply with the code to carry on by email.",
  },
  es: {
    launcher: "Haga una pregunta",
    launcherNews: "Haga una pregunta (tenemos una respuesta nueva para usted)",
    title: "Haga una pregunta",
    intro:
      "Las respuestas vienen de nuestra guía publicada, con un enlace a la página de donde salen. " +
      "No incluya datos personales como su número de caso.",
    close: "Cerrar",
    closeLabel: "Cerrar el chat",
    startOver: "Empezar de nuevo",
    conversation: "Conversación",
    label: "Su pregunta",
    hint: "Pulse Intro para enviar y Mayús+Intro para una línea nueva.",
    placeholder: "Por ejemplo: ¿cómo apelo una decisión?",
    send: "Enviar",
    you: "Usted dijo:",
    assistant: "Asistente:",
    typing: "El asistente está buscando la respuesta…",
    empty: "Escriba una pregunta primero.",
    source: "Fuente:",
    updated: "Actualizado el",
    choices: "Elija una",
    restarted: "Empezó una conversación nueva.",
    errorUnavailable: "El asistente no está disponible en este momento. Inténtelo de nuevo en un minuto.",
    errorTooLong: "El mensaje es demasiado largo. Acórtelo (como máximo {max} caracteres) y envíelo de nuevo.",
    errorTooMany: "Envió muchos mensajes en poco tiempo. Espere {wait} e inténtelo de nuevo.",
    errorWaitSeconds: "{n} segundos",
    errorWaitMoment: "un minuto",
    errorNetwork: "No pudimos comunicarnos con el asistente. Revise su conexión a internet y envíe su pregunta otra vez.",
    errorInvalid: "El asistente no pudo leer ese mensaje ({detail}). Escríbalo de otra forma e inténtelo de nuevo.",
    errorOther: "Algo salió mal de nuestro lado. Inténtelo de nuevo en un momento.",
    shareSummary: "Enviarme esta respuesta por mensaje de texto o correo",
    shareSummaryEmail: "Enviarme esta respuesta por correo",
    shareHow: "Enviarla por",
    shareSms: "Mensaje de texto",
    shareEmail: "Correo electrónico",
    sharePhone: "Número de celular, con el código del país (por ejemplo +1 555 010 4477)",
    shareAddress: "Correo electrónico",
    shareConsent:
      "Acepto recibir esta respuesta y un código para seguir esta conversación por mensaje de texto o correo. " +
      "No se envía nada más. Responda STOP a un mensaje de texto para dejar de recibirlos.",
    shareSend: "Enviármela",
    shareSending: "Enviando…",
    shareNeedPhone: "Escriba primero su número de celular.",
    shareNeedAddress: "Escriba primero su correo electrónico.",
    shareNeedConsent: "Marque la casilla para aceptar primero.",
    shareSentSms: "Le enviamos la respuesta a {to}, con un código. Envíe el código por mensaje para seguir esta conversación.",
    shareSentEmail: "Le enviaremos la respuesta a {to}, con un código. Responda con el código para seguir por correo.",
  },
};

/** "en" or "es" for a language tag such as "es-MX"; null when it is neither. */
export function supported(tag) {
  const base = String(tag || "").trim().toLowerCase().split(/[-_]/)[0];
  return base === "en" || base === "es" ? base : null;
}

/** The interface language: the script's data-lang, else the page's <html lang>, else the browser's. */
export function pickLanguage(dataLang, htmlLang, browserLangs) {
  for (const tag of [dataLang, htmlLang, ...(browserLangs || [])]) {
    const lang = supported(tag);
    if (lang) return lang;
  }
  return "en";
}

/** A string with {name} placeholders filled in. */
export function format(template, values) {
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}
