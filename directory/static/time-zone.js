// The intake form's time zone: on a fresh form, choose the browser's own IANA zone when the list
// has it, so the last-use time is read as the referrer's clock shows it. Without JavaScript, or
// on a form sent back with errors, the select keeps what the server put there.
(function () {
  "use strict";

  var form = document.querySelector("form[data-browser-time-zone]");
  var select = document.getElementById("time_zone");
  if (!form || !select || !window.Intl || !Intl.DateTimeFormat) return;
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  for (var i = 0; i < select.options.length; i++) {
    if (select.options[i].value === zone) {
      select.value = zone;
      return;
    }
  }
})();
