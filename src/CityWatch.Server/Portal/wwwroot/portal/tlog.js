// The audit log's checks in the browser, with WebCrypto only: shared by the portal's "verify it yourself" page
// (verify.js) and the console's audit-log page (console-log.js), so there is one implementation to trust.
// Inclusion: an entry's leaf and its proof must rebuild the signed checkpoint's root (RFC 9162 2.1.3.2).
// Consistency: an earlier size and root must be a prefix of the current tree (RFC 9162 2.1.4.2).
// The checkpoint's Ed25519 signature is checked against the key the page names, where the browser has Ed25519.
"use strict";

window.CityWatchLog = (() => {
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

    /**
     * Fetches the latest signed checkpoint, checks its signature, then entry <index>'s leaf and inclusion proof
     * against it. Returns { checkpoint, signature, proof, root, included }; throws a Failure when something
     * cannot be checked (a malformed or unsigned checkpoint, a bad proof, the server refusing).
     */
    async function checkInclusion(index, verifierKey) {
        if (!Number.isSafeInteger(index) || index < 0) {
            throw new Failure("the entry number must be a whole number, 0 or more");
        }
        const checkpoint = parseCheckpoint(await fetchOk("/audit/checkpoint"));
        const signature = await checkSignature(checkpoint, verifierKey);
        const leaf = await fetchOk(`/audit/leaf/${index}`, "bytes");
        const proof = proofHashes(await fetchOk(`/audit/proof/inclusion?index=${index}&size=${checkpoint.size}`));
        const root = await rootFromInclusion(index, checkpoint.size, await hashLeaf(leaf), proof);
        return { checkpoint, signature, proof, root, included: equal(root, checkpoint.root) };
    }

    return { Failure, toBase64, fromBase64, fetchOk, proofHashes, checkInclusion, consistent };
})();
