// rptici dashboard: a few lines of vanilla JS in place of HTMX (no CDN is reachable offline).
// - the run page polls /runs/<id>/status and, when the run is done, swaps in /runs/<id>/results;
// - the "compare" checkbox greys out regimen B when it is not used.
"use strict";

// Replace the contents of `target` with `html`, running its <script> elements (plotly figures) as HTMX would.
function swapIn(target, html) {
  target.innerHTML = html;
  for (const old of target.querySelectorAll("script")) {
    const script = document.createElement("script");
    for (const attribute of old.attributes) script.setAttribute(attribute.name, attribute.value);
    script.textContent = old.textContent;
    old.replaceWith(script);
  }
}

function pollRun(section) {
  const run = section.dataset.run;
  const progress = document.getElementById("progress");
  const state = document.getElementById("run-state");
  const count = document.getElementById("run-count");
  const message = document.getElementById("run-message");
  const tick = async () => {
    let status;
    try {
      const response = await fetch(`/runs/${run}/status`, {headers: {Accept: "application/json"}});
      status = await response.json();
    } catch (error) {
      setTimeout(tick, 1000);
      return;
    }
    progress.value = status.fraction;
    state.textContent = status.state;
    count.textContent = status.total ? `${status.done} / ${status.total} chunks` : "";
    message.textContent = status.message;
    section.dataset.state = status.state;
    if (status.state === "done") {
      const response = await fetch(`/runs/${run}/results`);
      swapIn(document.getElementById("results"), await response.text());
      section.dataset.loaded = "true";
    } else if (status.state === "failed" || status.state === "stopped") {
      message.classList.add("error");
    } else {
      setTimeout(tick, 400);
    }
  };
  tick();
}

document.addEventListener("DOMContentLoaded", () => {
  const section = document.getElementById("run-status");
  if (section) {
    if (section.dataset.state === "done") section.dataset.loaded = "true";
    else if (section.dataset.state === "queued" || section.dataset.state === "running") pollRun(section);
  }
  const compare = document.getElementById("field-compare");
  const second = document.getElementById("regimen-b");
  if (compare && second) {
    const update = () => second.classList.toggle("unused", !compare.checked);
    compare.addEventListener("change", update);
    update();
  }
});
