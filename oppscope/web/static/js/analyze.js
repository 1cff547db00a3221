// The analyze form: messages at each field, a draft kept in localStorage, the Sample button,
// Ctrl/Cmd+Enter to submit and a busy state while the server analyses. Without this script the form
// still works: the browser checks the same constraints and the server answers 422 with its messages.
(function () {
  "use strict";
  var DRAFT = "oppscope:draft";
  var PENDING = "oppscope:pending";
  var form = document.querySelector("[data-analyze-form]");
  if (!form) return;
  var submit = form.querySelector("[data-submit]");
  var status = form.querySelector("[data-status]");
  var note = document.querySelector("[data-draft-note]");
  var fields = Array.prototype.filter.call(form.elements, function (el) {
    return (el.tagName === "INPUT" || el.tagName === "TEXTAREA") && el.type !== "hidden";
  });
  var touched = false;

  function store(area, key, value) {
    try {
      if (value === null) area.removeItem(key);
      else area.setItem(key, value);
    } catch (e) {
      // storage disabled: the form works, only the draft is not kept
    }
  }

  function read(area, key) {
    try {
      return area.getItem(key);
    } catch (e) {
      return null;
    }
  }

  // ---- messages at the field ----

  function message(el) {
    var v = el.validity;
    if (v.valid) return "";
    if (v.valueMissing || v.patternMismatch) return "This field is required.";
    if (v.tooLong) return "Use at most " + el.maxLength + " characters.";
    if (v.badInput) return "Enter a valid date.";
    if (v.rangeUnderflow || v.rangeOverflow) return "Pick a date from " + el.min + " to " + el.max + ".";
    return el.validationMessage;
  }

  function setMessage(el, text) {
    var box = form.querySelector('[data-error-for="' + el.name + '"]');
    if (box) box.textContent = text;
    el.closest(".field").classList.toggle("has-error", Boolean(text));
    if (text) el.setAttribute("aria-invalid", "true");
    else el.removeAttribute("aria-invalid");
  }

  function show(el) {
    var text = message(el);
    setMessage(el, text);
    return !text;
  }

  function validateAll() {
    var first = null;
    fields.forEach(function (el) {
      if (!show(el) && !first) first = el;
    });
    return first;
  }

  // ---- the draft ----

  function values() {
    var out = {};
    fields.forEach(function (el) {
      out[el.name] = el.value;
    });
    return out;
  }

  function fill(data) {
    fields.forEach(function (el) {
      el.value = Object.prototype.hasOwnProperty.call(data, el.name) ? data[el.name] : "";
    });
    save();
  }

  var timer = null;
  function save() {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var data = values();
      var empty = Object.keys(data).every(function (k) {
        return !data[k];
      });
      store(localStorage, DRAFT, empty ? null : JSON.stringify(data));
    }, 250);
  }

  function restore() {
    var raw = read(localStorage, DRAFT);
    if (!raw) return;
    try {
      var draft = JSON.parse(raw);
      fields.forEach(function (el) {
        if (typeof draft[el.name] === "string") el.value = draft[el.name];
      });
      if (note) note.hidden = false;
    } catch (e) {
      store(localStorage, DRAFT, null);
    }
  }

  // ---- Sample: a realistic opportunity from the history's own vocabulary ----

  var CUSTOMERS = ["Northwind Logistics", "Harborview Health", "Cobalt Retail Group", "Alder Financial",
    "Brightline Energy", "Summit Learning", "Granite Manufacturing", "Bluewater Travel"];

  function pick(list, fallback) {
    return list && list.length ? list[Math.floor(Math.random() * Math.min(list.length, 8))] : fallback;
  }

  function sample() {
    var vocabulary = JSON.parse(document.getElementById("form-vocabulary").textContent);
    var customer = pick(CUSTOMERS, "Northwind Logistics");
    var activity = pick(vocabulary.activities, "Data Center Exit");
    var industry = pick(vocabulary.industries, "Manufacturing");
    var close = new Date(Date.now() + 45 * 864e5).toISOString().slice(0, 10);
    fill({
      customer_name: customer,
      opportunity_name: customer + " - " + activity,
      region: pick(vocabulary.countries, "Germany"),
      close_date: close,
      description: activity + " for a " + industry.toLowerCase() + " customer: move the core workloads and " +
        "databases to AWS, then modernise monitoring, backup and security.",
      industry: industry,
      customer_segment: pick(vocabulary.customer_segments, "Enterprise"),
      partner_name: pick(vocabulary.partners, ""),
      activity_focus: activity,
      migration_phase: pick(vocabulary.migration_phases, ""),
      business_description: customer + " runs its operations on ageing on-premises systems and wants to " +
        "scale without new hardware."
    });
    if (touched) validateAll();
    status.textContent = "Sample filled in; edit anything before you analyze.";
  }

  // ---- busy state ----

  function busy(on) {
    submit.disabled = on;
    submit.setAttribute("aria-busy", String(on));
    form.setAttribute("aria-busy", String(on));
    status.textContent = on ? "Analysing against the history… this takes a moment." : "";
  }

  // ---- wiring ----

  form.noValidate = true;
  if (/Mac|iPhone|iPad/.test(navigator.platform)) {
    form.querySelector(".keyboard-hint kbd").textContent = "⌘";
  }
  if (form.dataset.restore === "true") {
    restore();
  } else {
    // the server sent the form back with messages: keep what was typed as the draft
    store(sessionStorage, PENDING, null);
    save();
    var summary = document.getElementById("form-errors");
    if (summary) summary.focus();
  }

  form.addEventListener("input", function (event) {
    save();
    if (touched || event.target.getAttribute("aria-invalid")) show(event.target);
  });
  fields.forEach(function (el) {
    el.addEventListener("blur", function () {
      if (el.value) show(el);
    });
  });
  form.addEventListener("submit", function (event) {
    touched = true;
    var first = validateAll();
    if (first) {
      event.preventDefault();
      status.textContent = "Check the highlighted fields.";
      first.focus();
      return;
    }
    store(sessionStorage, PENDING, "1");
    busy(true);
  });
  form.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) busy(false);
  });
  document.querySelector("[data-sample]").addEventListener("click", sample);
  document.querySelector("[data-clear]").addEventListener("click", function () {
    fill({});
    store(localStorage, DRAFT, null);
    if (note) note.hidden = true;
    fields.forEach(function (el) {
      setMessage(el, "");
    });
    touched = false;
    status.textContent = "";
    fields[0].focus();
  });
})();
