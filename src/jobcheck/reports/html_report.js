// Filters of the jobcheck HTML report: by status, owner and tag, kept in the address's
// #hash (status=fail,error&owner=@alice&tag=integration) so a filtered view can be linked.
// Data comes from the JSON block; elements are built with textContent, never innerHTML.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("jobcheck-data").textContent);
  var checks = data.checks;
  var bar = document.getElementById("filters");
  var owner = document.getElementById("f-owner");
  var tag = document.getElementById("f-tag");
  var shown = document.getElementById("f-shown");
  var chips = Array.prototype.slice.call(bar.querySelectorAll("button[data-status]"));
  var statuses = chips.map(function (b) { return b.getAttribute("data-status"); });

  function fill(select, values) {
    values.forEach(function (value) {
      var option = document.createElement("option");
      option.value = value;
      option.textContent = value;
      select.appendChild(option);
    });
  }

  function pressed(chip) {
    return chip.getAttribute("aria-pressed") === "true";
  }

  function read() {
    var params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    var wanted = params.has("status") ? params.get("status").split(",") : statuses;
    chips.forEach(function (chip) {
      var on = wanted.indexOf(chip.getAttribute("data-status")) >= 0;
      chip.setAttribute("aria-pressed", on ? "true" : "false");
    });
    owner.value = data.owners.indexOf(params.get("owner")) >= 0 ? params.get("owner") : "";
    tag.value = data.tags.indexOf(params.get("tag")) >= 0 ? params.get("tag") : "";
  }

  function write() {
    var parts = [];
    var on = chips.filter(pressed).map(function (b) { return b.getAttribute("data-status"); });
    if (on.length !== statuses.length) parts.push("status=" + on.join(","));
    if (owner.value) parts.push("owner=" + encodeURIComponent(owner.value));
    if (tag.value) parts.push("tag=" + encodeURIComponent(tag.value));
    var url = window.location.pathname + window.location.search;
    try {
      window.history.replaceState(null, "", parts.length ? "#" + parts.join("&") : url);
    } catch (e) {
      // some viewers forbid it (a sandboxed attachment): the filter still applies
    }
  }

  function matches(check) {
    var on = chips.filter(pressed).map(function (b) { return b.getAttribute("data-status"); });
    return on.indexOf(check.status) >= 0 &&
      (!owner.value || check.owner === owner.value) &&
      (!tag.value || check.tags.indexOf(tag.value) >= 0);
  }

  function apply() {
    var visible = checks.map(matches);
    document.querySelectorAll("[data-i]").forEach(function (el) {
      el.hidden = !visible[Number(el.getAttribute("data-i"))];
    });
    document.querySelectorAll("#failures, #checks").forEach(function (section) {
      var open = section.querySelectorAll("[data-i]:not([hidden])").length;
      section.classList.toggle("all-hidden", open === 0);
    });
    var count = visible.filter(Boolean).length;
    shown.textContent = count + " of " + checks.length + " checks shown";
  }

  function set(wanted) {
    chips.forEach(function (chip) {
      var on = wanted.indexOf(chip.getAttribute("data-status")) >= 0;
      chip.setAttribute("aria-pressed", on ? "true" : "false");
    });
  }

  fill(owner, data.owners);
  fill(tag, data.tags);
  chips.forEach(function (chip) {
    chip.addEventListener("click", function () {
      chip.setAttribute("aria-pressed", pressed(chip) ? "false" : "true");
      write();
      apply();
    });
  });
  [owner, tag].forEach(function (select) {
    select.addEventListener("change", function () { write(); apply(); });
  });
  document.getElementById("f-problems").addEventListener("click", function () {
    set(["fail", "error"]);
    write();
    apply();
  });
  document.getElementById("f-reset").addEventListener("click", function () {
    set(statuses);
    owner.value = "";
    tag.value = "";
    write();
    apply();
  });
  window.addEventListener("hashchange", function () { read(); apply(); });
  read();
  apply();
  bar.hidden = false;
})();
