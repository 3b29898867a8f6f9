/* Follow a job while it runs: poll the element's data-poll-url (JSON {done, message}) every two seconds, show
   the message in its live region, and reload the page once the job is done. No inline script is needed. */
(function () {
  "use strict";
  var box = document.querySelector("[data-poll-url]");
  if (!box || !window.fetch) { return; }
  var url = box.getAttribute("data-poll-url");
  var line = box.querySelector("[data-poll-message]") || box;
  var every = 2000;
  function tick() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (data) {
        if (data.message && line.textContent !== data.message) { line.textContent = data.message; }
        if (data.done) { window.location.replace(window.location.pathname); return; }
        window.setTimeout(tick, every);
      })
      .catch(function () { window.setTimeout(tick, every * 3); });
  }
  window.setTimeout(tick, every);
}());
