// The alert queue's optional tone: off until the operator turns it on (a click is what lets a browser play sound).
// Then each alert that newly appears in the queue, of a watchlist with sound on (li[data-sound]), plays one short
// tone made with WebAudio (no audio file). Alerts already in the queue when sound is turned on stay silent.
(() => {
  const queue = document.getElementById("queue");
  const toggle = document.getElementById("sound-toggle");
  if (!queue || !toggle) return;
  const seen = new Set(Array.from(queue.querySelectorAll("li[data-alert]"), (li) => li.dataset.alert));
  let audio = null;
  let on = false;
  let played = 0;

  const tone = () => {
    if (!audio) return;
    const now = audio.currentTime;
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.type = "sine";
    oscillator.frequency.setValueAtTime(880, now);
    gain.gain.setValueAtTime(0.0001, now);
    gain.gain.exponentialRampToValueAtTime(0.2, now + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + 0.3);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start(now);
    oscillator.stop(now + 0.32);
    played += 1;
    queue.dataset.tones = String(played);
  };

  toggle.addEventListener("click", () => {
    on = !on;
    if (on && !audio) {
      const Context = window.AudioContext || window.webkitAudioContext;
      audio = Context ? new Context() : null;
    }
    if (on && audio && audio.state === "suspended") audio.resume();
    toggle.setAttribute("aria-pressed", on ? "true" : "false");
  });

  new MutationObserver(() => {
    let fresh = false;
    for (const li of queue.querySelectorAll("li[data-alert]")) {
      if (seen.has(li.dataset.alert)) continue;
      seen.add(li.dataset.alert);
      if (li.dataset.sound === "on") fresh = true;
    }
    if (fresh && on) tone();
  }).observe(queue, { childList: true, subtree: true });
})();
