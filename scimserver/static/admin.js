// Progressive enhancement only: every page works without it.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  if (!field) return;
  field.select();
  const done = () => { button.textContent = "Copied"; setTimeout(() => { button.textContent = "Copy"; }, 2000); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(done, () => { document.execCommand("copy"); done(); });
  } else {
    document.execCommand("copy");
    done();
  }
});

// A running CSV import: poll its status and show the progress; reload when it ends.
(() => {
  const section = document.getElementById("job-progress");
  if (!section || !window.fetch) return;
  const url = section.dataset.statusUrl;
  const set = (id, value) => { const el = document.getElementById(id); if (el) el.textContent = value; };
  let polls = 0;
  const poll = () => {
    polls += 1;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
      .then((job) => {
        if (job.finished) { window.location.reload(); return; }
        const bar = document.getElementById("job-progress-bar");
        if (bar) { bar.max = Math.max(job.rows_total, 1); bar.value = job.rows_done; }
        set("job-rows-done", job.rows_done);
        set("job-rows-total", job.rows_total);
        section.querySelectorAll("[data-count]").forEach((el) => { el.textContent = job.counts[el.dataset.count] ?? 0; });
        if (polls < 7200) setTimeout(poll, 1000);
      })
      .catch(() => { if (polls < 7200) setTimeout(poll, 5000); });
  };
  setTimeout(poll, 1000);
})();
