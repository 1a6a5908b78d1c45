// The portal's "verify it yourself" page: checks the audit log in the browser with WebCrypto only.
// Inclusion: an entry's leaf and its proof must rebuild the signed checkpoint's root (RFC 9162 2.1.3.2).
// Consistency: an earlier size and root must be a prefix of the current tree (RFC 9162 2.1.4.2).
// The checkpoint's Ed25519 signature is checked against the key the page names, where the browser has Ed25519.
"use strict";

(() => {
    const form = document.getElementById("verify-form");
    const result = document.getElementById("verify-result");
    const indexInput = document.getElementById("verify-index");
    const oldSizeInput = document.getElementById("verify-old-size");
    const oldRootInput = document.getElementById("verify-old-root");
    const storageKey = "citywatch.verified-checkpoint";

    class Failure extends Error { }

    const fromBase64 = text => {
        try {
            return Uint8Array.from(atob(text), c => c.charCodeAt(0));
        } catch {
            throw new Failure("a value is not valid base64");
        }
    };
    const toBase64 = bytes => btoa(String.fromCharCode(...bytes));
    const concat = (...parts) => {
        const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const p of parts) {
            out.set(p, at);
            at += p.length;
        }
        return out;
    };
    const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
    const sha256 = async bytes => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    const hashLeaf = leaf => sha256(concat(Uint8Array.of(0), leaf));
    const hashChildren = (left, right) => sha256(concat(Uint8Array.of(1), left, right));
    const isOdd = n => n % 2 === 1;
    const half = n => Math.floor(n / 2);
    const isPowerOfTwo = n => {
        while (n > 1 && !isOdd(n)) {
            n = half(n);
        }
        return n === 1;
    };

    async function fetchOk(url, as) {
        const response = await fetch(url, { cache: "no-store" });
        if (!response.ok) {
            throw new Failure(`the server answered ${response.status} for ${url}`);
        }
        return as === "bytes" ? new Uint8Array(await response.arrayBuffer()) : response.text();
    }

    const proofHashes = text => text.split("\n").filter(line => line.length > 0).map(line => {
        const hash = fromBase64(line);
        if (hash.length !== 32) {
            throw new Failure("a proof hash is not 32 bytes");
        }
        return hash;
    });

    /** The C2SP signed note: its text (through the blank line) and its signature lines. */
    function parseCheckpoint(note) {
        const split = note.indexOf("\n\n");
        if (split < 0) {
            throw new Failure("the checkpoint is not a signed note");
        }
        const text = note.slice(0, split + 1);
        const lines = text.split("\n");
        const size = Number(lines[1]);
        if (lines.length < 4 || !Number.isSafeInteger(size) || size < 0 || String(size) !== lines[1]) {
            throw new Failure("the checkpoint's size line is malformed");
        }
        const root = fromBase64(lines[2]);
        if (root.length !== 32) {
            throw new Failure("the checkpoint's root hash is not 32 bytes");
        }
        const signatures = note.slice(split + 2).split("\n").filter(l => l.startsWith("\u2014 ")).map(l => {
            const [name, blob] = l.slice(2).split(" ");
            return { name, blob: fromBase64(blob ?? "") };
        });
        return { text, origin: lines[0], size, root, signatures };
    }

    /** "checked", "unchecked" (this browser has no Ed25519), or throws when the signature is wrong or missing. */
    async function checkSignature(checkpoint, verifierKey) {
        // name+keyid+base64: the base64 may itself contain "+", so split at the first two only.
        const first = verifierKey.indexOf("+");
        const second = verifierKey.indexOf("+", first + 1);
        const name = verifierKey.slice(0, Math.max(first, 0));
        const keyIdHex = first < 0 || second < 0 ? "" : verifierKey.slice(first + 1, second);
        const keyBase64 = second < 0 ? "" : verifierKey.slice(second + 1);
        const key = fromBase64(keyBase64);
        if (key.length !== 33 || key[0] !== 1 || !/^[0-9a-f]{8}$/.test(keyIdHex)) {
            throw new Failure("the log's key is not an Ed25519 verifier key");
        }
        const keyId = Uint8Array.from(keyIdHex.match(/../g), h => parseInt(h, 16));
        const computedId = (await sha256(concat(new TextEncoder().encode(name + "\n"), key))).slice(0, 4);
        if (!equal(keyId, computedId)) {
            throw new Failure("the log's key id does not match its key");
        }
        const mine = checkpoint.signatures.find(s => s.name === name && s.blob.length === 68 && equal(s.blob.slice(0, 4), keyId));
        if (!mine) {
            throw new Failure("the checkpoint carries no signature by the log's key");
        }
        let publicKey;
        try {
            publicKey = await crypto.subtle.importKey("raw", key.slice(1), { name: "Ed25519" }, false, ["verify"]);
        } catch {
            return "unchecked";
        }
        const ok = await crypto.subtle.verify({ name: "Ed25519" }, publicKey, mine.blob.slice(4), new TextEncoder().encode(checkpoint.text));
        if (!ok) {
            throw new Failure("the checkpoint's Ed25519 signature does not verify against the log's key");
        }
        return "checked";
    }

    async function rootFromInclusion(index, size, leafHash, proof) {
        if (index >= size) {
            throw new Failure(`entry ${index} is beyond the checkpoint's ${size} entries`);
        }
        let fn = index;
        let sn = size - 1;
        let r = leafHash;
        for (const p of proof) {
            if (sn === 0) {
                throw new Failure("the inclusion proof is too long");
            }
            if (isOdd(fn) || fn === sn) {
                r = await hashChildren(p, r);
                while (!isOdd(fn) && fn !== 0) {
                    fn = half(fn);
                    sn = half(sn);
                }
            } else {
                r = await hashChildren(r, p);
            }
            fn = half(fn);
            sn = half(sn);
        }
        if (sn !== 0) {
            throw new Failure("the inclusion proof is too short");
        }
        return r;
    }

    async function consistent(oldSize, oldRoot, size, root, proof) {
        if (oldSize === size) {
            return proof.length === 0 && equal(oldRoot, root);
        }
        if (proof.length === 0) {
            return false;
        }
        const path = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : proof;
        let fn = oldSize - 1;
        let sn = size - 1;
        while (isOdd(fn)) {
            fn = half(fn);
            sn = half(sn);
        }
        let fr = path[0];
        let sr = path[0];
        for (const c of path.slice(1)) {
            if (sn === 0) {
                return false;
            }
            if (isOdd(fn) || fn === sn) {
                fr = await hashChildren(c, fr);
                sr = await hashChildren(c, sr);
                while (!isOdd(fn) && fn !== 0) {
                    fn = half(fn);
                    sn = half(sn);
                }
            } else {
                sr = await hashChildren(sr, c);
            }
            fn = half(fn);
            sn = half(sn);
        }
        return sn === 0 && equal(fr, oldRoot) && equal(sr, root);
    }

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
        if (!Number.isSafeInteger(index) || index < 0) {
            throw new Failure("the entry number must be a whole number, 0 or more");
        }
        const checkpoint = parseCheckpoint(await fetchOk("/audit/checkpoint"));
        const signature = await checkSignature(checkpoint, form.dataset.key);
        const leaf = await fetchOk(`/audit/leaf/${index}`, "bytes");
        document.getElementById("verify-command").textContent =
            `citywatch audit verify --url ${form.dataset.server} --key ${form.dataset.key} --from ${index} --to ${index + 1}`;
        const proof = proofHashes(await fetchOk(`/audit/proof/inclusion?index=${index}&size=${checkpoint.size}`));
        const lines = [];
        const root = await rootFromInclusion(index, checkpoint.size, await hashLeaf(leaf), proof);
        if (!equal(root, checkpoint.root)) {
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
