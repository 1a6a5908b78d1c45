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

// The live queue is replaced whole when it changes; a keyboard user who was on an alert in it stays on that
// alert (or, when it left the queue, on the queue itself) instead of being thrown back to the top of the page.
const queue = document.getElementById("queue");
if (queue) {
  let focused = null;
  document.addEventListener("focusin", (event) => {
    const link = event.target instanceof Element && queue.contains(event.target) ? event.target.closest("a[href]") : null;
    focused = link ? link.getAttribute("href") : null;
  });
  document.addEventListener("mousedown", (event) => {
    if (!(event.target instanceof Node) || !queue.contains(event.target)) focused = null;
  });
  new MutationObserver(() => {
    if (focused === null || (document.activeElement && document.activeElement !== document.body)) return;
    const again = Array.from(queue.querySelectorAll("a[href]")).find((a) => a.getAttribute("href") === focused);
    if (again) {
      again.focus();
    } else {
      queue.setAttribute("tabindex", "-1");
      queue.focus();
    }
  }).observe(queue, { childList: true, subtree: true });
}
