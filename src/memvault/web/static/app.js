// The dashboard works without this file; it only adds conveniences.
// "/" focuses the search box (as on many sites), unless typing in a field.
document.addEventListener("keydown", (event) => {
  const box = document.getElementById("q");
  const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
  if (event.key === "/" && box && !typing) {
    event.preventDefault();
    box.focus();
  }
});
// A job page polls its job and reloads once it has finished, instead of the
// page's slower meta refresh.
const job = document.querySelector("[data-job]");
if (job) {
  const poll = async () => {
    const reply = await fetch(`/api/v1/maintenance/jobs/${job.dataset.job}`, {credentials: "same-origin"});
    if (!reply.ok) return;
    const data = await reply.json();
    const bar = job.querySelector("progress");
    if (bar && data.progress.total) { bar.max = data.progress.total; bar.value = data.progress.done; }
    const stage = job.querySelector("[data-stage]");
    if (stage && data.progress.stage) stage.textContent = data.progress.stage;
    if (data.status === "done" || data.status === "failed") location.reload();
    else setTimeout(poll, 400);
  };
  setTimeout(poll, 400);
}
