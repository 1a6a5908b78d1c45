// The console's audit-log page: each entry's "verify inclusion" button checks, in the browser, that the entry
// is in the latest signed checkpoint, with the portal's own checks (tlog.js, loaded before this script).
"use strict";

(() => {
    const log = document.getElementById("audit-log");
    if (!log) {
        return;
    }
    const { Failure, checkInclusion } = window.CityWatchLog;

    log.addEventListener("click", async event => {
        const button = event.target instanceof Element ? event.target.closest("button[data-index]") : null;
        if (!button) {
            return;
        }
        const index = Number(button.dataset.index);
        const result = document.getElementById(`verified-${button.dataset.index}`);
        const show = (outcome, text) => {
            result.dataset.outcome = outcome;
            result.textContent = text;
        };
        show("checking", "Checking…");
        try {
            const { checkpoint, signature, included } = await checkInclusion(index, log.dataset.key);
            if (!included) {
                show("fail", `Not verified: entry ${index} and its inclusion proof do not give the root of the signed checkpoint of size ${checkpoint.size}.`);
            } else {
                show("verified", `Verified against checkpoint of size ${checkpoint.size}` + (signature === "checked" ? " (its signature checked)." : " (this browser cannot check its Ed25519 signature)."));
            }
        } catch (error) {
            show("fail", error instanceof Failure ? `Not verified: ${error.message}.` : `Not verified: the check could not run in this browser (${error}).`);
        }
    });
})();
