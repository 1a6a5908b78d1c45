// The console's keyboard shortcuts on the candidate view: c confirms, r rejects, s skips (not while typing).
document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
  const target = event.target;
  if (target instanceof HTMLElement && target.closest("input, textarea, select, [contenteditable]")) return;
  const id = { c: "confirm", r: "reject", s: "skip" }[event.key];
  const control = id && document.getElementById(id);
  if (control) {
    event.preventDefault();
    control.click();
  }
});
