// Wide tables on narrow screens: a table in a `.table-scroll` region that is wider than the screen
// shows the cue named by its `data-scroll-cue` ("Scroll sideways ..."), and says so to screen readers.
(function () {
  "use strict";

  var regions = document.querySelectorAll(".table-scroll[data-scroll-cue]");

  function update() {
    Array.prototype.forEach.call(regions, function (region) {
      var cue = document.getElementById(region.getAttribute("data-scroll-cue"));
      if (!cue) return;
      var overflows = region.scrollWidth > region.clientWidth + 1;
      cue.hidden = !overflows;
      if (overflows) {
        region.setAttribute("aria-describedby", cue.id);
      } else {
        region.removeAttribute("aria-describedby");
      }
    });
  }

  update();
  window.addEventListener("resize", update);
})();
