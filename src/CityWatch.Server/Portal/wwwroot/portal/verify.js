// The portal's "verify it yourself" page: checks the audit log in the browser with WebCrypto only, through
// the checks in tlog.js (loaded before this script): an entry's inclusion and, given an earlier checkpoint,
// the log's consistency with it.
"use strict";

(() => {
    const form = document.getElementById("verify-form");
    const result = document.getElementById("verify-result");
    const indexInput = document.getElementById("verify-index");
    const oldSizeInput = document.getElementById("verify-old-size");
    const oldRootInput = document.getElementById("verify-old-root");
    const storageKey = "citywatch.verified-checkpoint";

    const { Failure, toBase64, fromBase64, fetchOk, proofHashes, checkInclusion, consistent } = window.CityWatchLog;

    function show(outcome, lines) {
        result.dataset.outcome = outcome;
        result.replaceChildren(...lines.map(text => {
            const p = document.createElement("p");
            p.textContent = text;
            return p;
        }));
    }

    function remembered() {
        try {
            const saved = JSON.parse(localStorage.getItem(storageKey) ?? "null");
            if (saved && Number.isSafeInteger(saved.size) && typeof saved.root === "string") {
                return saved;
            }
        } catch {
            // Nothing usable stored: the visitor enters an earlier checkpoint or checks inclusion only.
        }
        return null;
    }

    async function verify() {
        const index = Number(indexInput.value);
        if (Number.isSafeInteger(index) && index >= 0) {
            document.getElementById("verify-command").textContent =
                `citywatch audit verify --url ${form.dataset.server} --key ${form.dataset.key} --from ${index} --to ${index + 1}`;
        }
        const { checkpoint, signature, proof, root, included } = await checkInclusion(index, form.dataset.key);
        const lines = [];
        if (!included) {
            return ["fail", [`Entry ${index} does not verify: its leaf and inclusion proof give the root ${toBase64(root)}, but the signed checkpoint of ${checkpoint.size} entries says ${toBase64(checkpoint.root)}.`]];
        }
        lines.push(`Entry ${index} verified: it is in the log's checkpoint of ${checkpoint.size} entries (root ${toBase64(checkpoint.root)}), recomputed here from its leaf and ${proof.length} proof hashes.`);
        lines.push(signature === "checked"
            ? "The checkpoint's Ed25519 signature by the log's key was checked in this browser and is valid."
            : "This browser has no Ed25519 in WebCrypto, so the checkpoint's signature was not checked here; check it with the command below.");

        const oldSize = oldSizeInput.value.trim() === "" ? null : Number(oldSizeInput.value);
        if (oldSize !== null) {
            if (!Number.isSafeInteger(oldSize) || oldSize < 1 || oldSize > checkpoint.size) {
                throw new Failure(`the earlier size must be a whole number from 1 to ${checkpoint.size}`);
            }
            const oldRoot = fromBase64(oldRootInput.value.trim());
            if (oldRoot.length !== 32) {
                throw new Failure("the earlier root hash must be 32 bytes in base64");
            }
            const consistency = oldSize === checkpoint.size ? [] : proofHashes(await fetchOk(`/audit/proof/consistency?old=${oldSize}&size=${checkpoint.size}`));
            if (!(await consistent(oldSize, oldRoot, checkpoint.size, checkpoint.root, consistency))) {
                return ["fail", [...lines, `The log does not verify as grown from the earlier checkpoint of ${oldSize} entries: the consistency proof does not join that root to the current one. Entries may have been changed or removed.`]];
            }
            lines.push(`The log only grew: the earlier checkpoint of ${oldSize} entries is a prefix of the current ${checkpoint.size} entries (consistency proof of ${consistency.length} hashes verified).`);
        }

        localStorage.setItem(storageKey, JSON.stringify({ size: checkpoint.size, root: toBase64(checkpoint.root) }));
        return ["verified", lines];
    }

    const saved = remembered();
    if (saved) {
        oldSizeInput.value = String(saved.size);
        oldRootInput.value = saved.root;
    }

    form.addEventListener("submit", async event => {
        event.preventDefault();
        show("checking", ["Checking…"]);
        try {
            const [outcome, lines] = await verify();
            show(outcome, lines);
        } catch (error) {
            show("fail", [error instanceof Failure
                ? `The log does not verify: ${error.message}.`
                : `The log could not be checked in this browser (${error}); it does not verify until it can.`]);
        }
    });
})();
