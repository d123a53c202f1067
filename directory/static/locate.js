// "Use my location": fill the search box with the browser's position ("lat,lon", rounded to two
// decimals: about a kilometre, enough to search near and no more precise in the URL) and search.
// The button stays hidden where the browser cannot share a location.
(function () {
  "use strict";

  var panel = document.getElementById("locate");
  var button = document.getElementById("use-location");
  var status = document.getElementById("location-status");
  var box = document.getElementById("near");
  if (!panel || !button || !box || !box.form) return;
  if (!("geolocation" in navigator) || window.isSecureContext === false) return;

  var messages = {
    1: "Your browser did not allow us to use your location. Type a ZIP code or town instead.",
    2: "We could not find your location. Type a ZIP code or town instead.",
    3: "Finding your location took too long. Try again, or type a ZIP code or town."
  };

  function search(position) {
    box.value = position.coords.latitude.toFixed(2) + "," + position.coords.longitude.toFixed(2);
    status.textContent = "Searching near your location…";
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
    status.textContent = "Finding your location…";
    navigator.geolocation.getCurrentPosition(search, fail, {
      enableHighAccuracy: false,
      timeout: 15000,
      maximumAge: 600000
    });
  });
})();
