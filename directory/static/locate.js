// "Use my location": fill the search box with the browser's position ("lat,lon", rounded to two
// decimals: about a kilometre, enough to search near and no more precise in the URL) and search.
// The button stays hidden where the browser cannot share a location. Its messages come from the
// page's data-* attributes, in the page's language.
(function () {
  "use strict";

  var panel = document.getElementById("locate");
  var button = document.getElementById("use-location");
  var status = document.getElementById("location-status");
  var box = document.getElementById("near");
  if (!panel || !button || !box || !box.form) return;
  if (!("geolocation" in navigator) || window.isSecureContext === false) return;

  var words = panel.dataset;
  var messages = { 1: words.denied, 2: words.unavailable, 3: words.timeout };

  function search(position) {
    box.value = position.coords.latitude.toFixed(2) + "," + position.coords.longitude.toFixed(2);
    status.textContent = words.searching;
    if (box.form.requestSubmit) {
      box.form.requestSubmit();
    } else {
      box.form.submit();
    }
  }

  function fail(error) {
    button.disabled = false;
    status.textContent = messages[error.code] || messages[2];
  }

  panel.hidden = false;
  button.addEventListener("click", function () {
    button.disabled = true;
    status.textContent = words.finding;
    navigator.geolocation.getCurrentPosition(search, fail, {
      enableHighAccuracy: false,
      timeout: 15000,
      maximumAge: 600000
    });
  });
})();
