// The map of a results page or a profile (templates/public/_macros.html, map_region): the centers
// of #map-data, numbered as in the list, and the place searched. Each center's marker is a button
// named "1. Center name" that Tab reaches in the list's order; Enter or a click opens its popup,
// whose link goes to the profile. The background is MAP_TILE_URL's tiles where the site sets one,
// else the US state outlines the app serves. Without JavaScript the map stays hidden: the list is
// the page. Its words come in the page's language from the container's data-* attributes.
(function () {
  "use strict";

  var container = document.getElementById("map");
  var source = document.getElementById("map-data");
  if (!container || !source || !window.L || !window.topojson) return;
  var shows = JSON.parse(source.textContent);
  var tileUrl = container.getAttribute("data-tile-url");

  container.hidden = false;
  // The wheel scrolls the page, not the map: the map is beside or below the list people scroll.
  var map = L.map(container, { scrollWheelZoom: false });
  map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');

  if (tileUrl) {
    L.tileLayer(tileUrl, {
      attribution: escapeHtml(container.getAttribute("data-attribution") || ""),
      maxZoom: 18
    }).addTo(map);
  } else {
    addStateOutlines(map, container.getAttribute("data-states-url"));
  }

  var points = shows.markers.map(function (center) {
    return [center.latitude, center.longitude];
  });
  if (shows.place) points.push([shows.place.latitude, shows.place.longitude]);
  // The view first: Leaflet draws markers on a map that has one. Close up on streets with tiles;
  // the outlines alone show more around a single point, to place it.
  if (points.length === 1) {
    map.setView(points[0], tileUrl ? 14 : 7);
  } else {
    map.fitBounds(points, { padding: [30, 30], maxZoom: tileUrl ? 15 : 12 });
  }

  var opened = null; // the marker whose popup is open
  shows.markers.forEach(function (center) {
    var point = [center.latitude, center.longitude];
    var name = center.number ? center.number + ". " + center.name : center.name;
    var marker = L.marker(point, {
      icon: L.divIcon({
        className: "map-marker",
        html: center.number ? String(center.number) : "",
        iconSize: [30, 30]
      }),
      keyboard: true
    }).addTo(map);
    marker.getElement().setAttribute("aria-label", name);
    marker.bindPopup(popupContent(center));
    marker.on("keypress", function (event) {
      if (event.originalEvent.keyCode === 13) focusPopupLink(marker);
    });
    marker.on("popupopen", function () {
      opened = marker;
    });
    marker.on("popupclose", function () {
      if (opened === marker) opened = null;
      // Closed from inside the popup (its close button): back to the marker, not the page's top.
      if (!document.activeElement || document.activeElement === document.body) marker.getElement().focus();
    });
  });

  // Escape anywhere in the map closes the open popup, back on its marker (Leaflet's own Escape
  // works only while the map itself has the focus, not a marker or the popup's link).
  container.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || !opened) return;
    var marker = opened;
    marker.closePopup();
    marker.getElement().focus();
  });

  if (shows.place) {
    var place = [shows.place.latitude, shows.place.longitude];
    // Said in the page's own words ("near …"), so not another stop for Tab or a screen reader.
    var placeMarker = L.marker(place, {
      icon: L.divIcon({ className: "map-place", iconSize: [18, 18] }),
      keyboard: false,
      zIndexOffset: -1000
    }).addTo(map);
    placeMarker.getElement().setAttribute("aria-hidden", "true");
    placeMarker.bindPopup(textElement("p", container.getAttribute("data-searched-near") + " " + shows.place.name));
  }

  function popupContent(center) {
    if (!center.url) return textElement("p", center.name);
    var link = textElement("a", center.name);
    link.href = center.url;
    return link;
  }

  function focusPopupLink(marker) {
    var popup = marker.getPopup() && marker.getPopup().getElement();
    var link = popup && popup.querySelector(".leaflet-popup-content a");
    if (link) link.focus();
  }

  function textElement(tag, text) {
    var element = document.createElement(tag);
    element.textContent = text;
    return element;
  }

  function escapeHtml(text) {
    return text.replace(/[&<>"']/g, function (ch) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[ch];
    });
  }

  function addStateOutlines(map, url) {
    fetch(url)
      .then(function (response) {
        if (!response.ok) throw new Error(url + ": " + response.status);
        return response.json();
      })
      .then(function (atlas) {
        L.geoJSON(topojson.feature(atlas, atlas.objects.states), {
          interactive: false,
          attribution: escapeHtml(container.getAttribute("data-outlines-attribution")),
          style: { color: "#6b7785", weight: 1, fillColor: "#ffffff", fillOpacity: 1 }
        }).addTo(map);
      })
      .catch(function (error) {
        // The markers are still right without the outlines.
        if (window.console) console.warn("The map's state outlines did not load:", error);
      });
  }
})();
