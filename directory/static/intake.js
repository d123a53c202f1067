// The intake form's opioid questions, shown only where they apply: the primary opioid and last use
// for opioid use disorder (or, for alcohol alone, when opioid use in the last 10 days is yes or not
// known); the 10-day question for alcohol alone; neither until the referral says what it is for.
// Without JavaScript every question shows, and the server checks which ones the referral needs.
(function () {
  "use strict";

  var form = document.querySelector("form.intake-form");
  var recentPart = document.querySelector('[data-intake-part="recent-opioid-use"]');
  var opioidPart = document.querySelector('[data-intake-part="opioid-facts"]');
  if (!form || !recentPart || !opioidPart) return;

  function checked(selector) {
    var input = form.querySelector(selector);
    return Boolean(input && input.checked);
  }

  function update() {
    var alcohol = checked('input[name="use_disorders"][value="alcohol"]');
    var opioids = checked('input[name="use_disorders"][value="opioids"]');
    var recent = checked('input[name="recent_opioid_use"][value="yes"]') ||
      checked('input[name="recent_opioid_use"][value="unknown"]');
    var alcoholAlone = alcohol && !opioids;
    recentPart.hidden = !alcoholAlone;
    opioidPart.hidden = !(opioids || (alcoholAlone && recent));
  }

  form.addEventListener("change", update);
  update();
})();
