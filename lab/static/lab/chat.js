"use strict";
// The chat page shared by every strategy: the log, the input, the meter, and
// the helpers a transport needs. Each strategy's script calls pushlab.register()
// with a factory; the page starts the one its ?strategy= names.
window.pushlab = (function () {
    const config = JSON.parse(document.getElementById("pushlab-config").textContent);
    const log = document.querySelector("#chat-log");
    const input = document.querySelector("#chat-message-input");
    const submit = document.querySelector("#chat-message-submit");
    const errorBox = document.querySelector("#chat-error");
    const encoder = new TextEncoder();
    const meter = { requests: 0, bytes: 0, messages: 0, latencies: [] };
    let lastId = config.lastId;  // the newest message id shown: never show one twice
    let transport = null;

    // The cookie's token, not the one this page was rendered with: pages loaded at the same
    // time without a cookie (the compare page's panels, two fresh tabs) each get a new one,
    // and only the last one set stays in the cookie that Django checks against.
    function csrfToken() {
        const found = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
        return found ? decodeURIComponent(found[1]) : config.csrfToken;
    }

    function show(id, value) {
        document.getElementById(id).textContent = value;
    }

    function updateMeter() {
        show("meter-requests", meter.requests);
        show("meter-bytes", meter.bytes);
        show("meter-messages", meter.messages);
        const sorted = meter.latencies.slice().sort((a, b) => a - b);
        if (sorted.length) {
            show("meter-latency-last", meter.latencies[meter.latencies.length - 1]);
            show("meter-latency-median", sorted[Math.floor((sorted.length - 1) / 2)]);
        }
    }

    const chat = {
        config: config,
        lastId: () => lastId,
        apiUrl: (suffix) => "/api/rooms/" + encodeURIComponent(config.room) + "/messages" + suffix,

        // Show messages in id order, each once; anything at or below lastId is a repeat.
        deliver(messages) {
            const now = Date.now();
            for (const m of messages) {
                if (m.id <= lastId) {
                    continue;
                }
                lastId = m.id;
                log.value += m.message + "\n";
                log.scrollTop = log.scrollHeight;
                meter.messages += 1;
                meter.latencies.push(Math.max(0, now - Date.parse(m.created_at)));
                if (meter.latencies.length > 200) {
                    meter.latencies.shift();
                }
            }
            updateMeter();
        },

        countRequest(bytes) {
            meter.requests += 1;
            meter.bytes += bytes;
            updateMeter();
        },

        countFrame(text) {
            meter.bytes += encoder.encode(text).length;
            updateMeter();
        },

        setState(state) {
            show("connection-state", state);
        },

        // PUSHLAB_REQUIRE_LOGIN and no (or an expired) sign-in: retrying cannot help.
        // (A strategy's own codes, such as WebSocket close codes, come in config from its
        // page_config() on the server, never copied here.)
        LOGIN_REQUIRED_STATUS: 401,
        signedOut() {
            chat.setState("signed out");
            chat.showError("Sign in to chat, then reload this page.");
        },

        // The page's last id is not one of the room's (say, the database was reset).
        outOfDate() {
            chat.setState("out of date: reload the page");
        },

        showError(message) {
            errorBox.textContent = message;
            errorBox.hidden = !message;
        },

        // fetch() that feeds the meter and returns {status, body}; throws on network errors.
        async fetchJson(url, options) {
            const response = await fetch(url, Object.assign({ credentials: "same-origin" }, options));
            const text = await response.text();
            chat.countRequest(encoder.encode(text).length);
            let body = null;
            try {
                body = JSON.parse(text);
            } catch (e) {
                body = { error: "the server answered " + response.status + " with no JSON" };
            }
            return { status: response.status, body: body };
        },

        // The polling strategies send over HTTP; the answer is the stored message.
        async postMessage(text) {
            const answer = await chat.fetchJson(chat.apiUrl(""), {
                method: "POST",
                headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
                body: JSON.stringify({ message: text }),
            });
            if (answer.status !== 201) {
                throw new Error(answer.body.error || "sending failed: " + answer.status);
            }
            return answer.body;
        },

        // Jittered exponential backoff: 0.5 s, 1 s, 2 s, ... up to 15 s, each ±50 %.
        backoff() {
            let attempt = 0;
            return {
                next() {
                    const base = Math.min(15000, 500 * 2 ** attempt);
                    attempt += 1;
                    return Math.round(base * (0.5 + Math.random()));
                },
                reset() {
                    attempt = 0;
                },
            };
        },

        sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    };

    async function sendFromInput() {
        const text = input.value;
        if (!text.trim() || transport === null) {
            return;
        }
        input.value = "";
        try {
            await transport.send(text);
            chat.showError("");
        } catch (e) {
            chat.showError(e.message);
            if (!input.value) {
                input.value = text;  // nothing typed is lost
            }
        }
    }

    input.focus({ preventScroll: true });  // in the compare page, do not scroll to a panel
    input.onkeyup = function (e) {
        if (e.key === "Enter") {
            submit.click();
        }
    };
    submit.onclick = sendFromInput;

    return {
        chat: chat,
        register(key, factory) {
            if (key === config.strategy) {
                transport = factory(chat);
                transport.start();
            }
        },
    };
})();
