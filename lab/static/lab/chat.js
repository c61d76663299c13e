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
    // This page's traffic over time, for the compare page's timeline: HTTP requests from
    // start to answer (end null while open), pushed frames and delivered messages as ticks.
    const trace = { requests: [], frames: [], messages: [], sent: [] };
    const TRACE_KEEP_MS = 60000;

    function remember(list, item) {
        list.push(item);
        while (list.length && list[0].at < Date.now() - TRACE_KEEP_MS &&
               (list[0].end === undefined || list[0].end !== null)) {
            list.shift();
        }
    }
    let lastId = config.lastId;  // the newest message id shown: never show one twice
    let transport = null;
    const leaving = new AbortController();  // aborts this page's requests when it is left
    let outgoing = null;  // {text, clientId} of the message being sent, until it is stored
    const POST_ATTEMPTS = 4;

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
                remember(trace.messages, { at: now, id: m.id });
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
            remember(trace.frames, { at: Date.now() });
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

        // Put a message the server refused back in the input (also one refused after it was
        // sent, by a WebSocket's error frame), unless something new is typed there.
        keepTyped(text) {
            if (!input.value) {
                input.value = text;
            }
        },

        // fetch() that feeds the meter and returns {status, body}; throws on network errors.
        async fetchJson(url, options) {
            const request = { at: Date.now(), end: null, method: (options && options.method) || "GET" };
            remember(trace.requests, request);
            let response, text;
            try {
                response = await fetch(url, Object.assign(
                    { credentials: "same-origin", signal: leaving.signal }, options));
                text = await response.text();
            } finally {
                request.end = Date.now();
            }
            chat.countRequest(encoder.encode(text).length);
            let body = null;
            try {
                body = JSON.parse(text);
            } catch (e) {
                body = { error: "the server answered " + response.status + " with no JSON" };
            }
            return { status: response.status, body: body };
        },

        // A new id for one message: the server stores a message once per (room, author,
        // client_id), so re-sending it after a lost answer or a reconnect never stores it twice.
        newClientId() {
            const bytes = crypto.getRandomValues(new Uint8Array(16));  // randomUUID needs https
            return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
        },

        // The client id of the message being sent: the same text sent again after a failure
        // (the input keeps it) is the same message, so it keeps its id.
        clientIdFor(text) {
            if (outgoing === null || outgoing.text !== text) {
                outgoing = { text: text, clientId: chat.newClientId() };
            }
            return outgoing.clientId;
        },

        // The polling strategies send over HTTP; the answer is the stored message (201, or
        // 200 for a repeat of this client_id). A lost answer (network error, a 5xx while
        // the server restarts) is retried with the same client_id, which is safe.
        async postMessage(text, clientId) {
            const body = JSON.stringify({ message: text, client_id: clientId || chat.clientIdFor(text) });
            const retry = chat.backoff();
            for (let attempt = 1; ; attempt += 1) {
                let answer = null;
                try {
                    answer = await chat.fetchJson(chat.apiUrl(""), {
                        method: "POST",
                        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
                        body: body,
                    });
                } catch (e) {
                    if (attempt >= POST_ATTEMPTS) {
                        throw new Error("sending failed: the server did not answer");
                    }
                }
                if (answer !== null && (answer.status === 201 || answer.status === 200)) {
                    return answer.body;
                }
                if (answer !== null && (answer.status < 500 || attempt >= POST_ATTEMPTS)) {
                    throw new Error(answer.body.error || "sending failed: " + answer.status);
                }
                await chat.sleep(retry.next());
            }
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

        // A long-poll loop on `endpoint` (e.g. "/wait"): the server holds each request until
        // a message exists (or its timeout passes); ask again at once; back off after errors.
        async longPoll(endpoint) {
            const backoff = chat.backoff();
            for (;;) {
                chat.setState("waiting");
                try {
                    const query = endpoint + "?after=" + lastId + "&timeout=" + config.longPollTimeoutS;
                    const answer = await chat.fetchJson(chat.apiUrl(query));
                    if (answer.status === chat.LOGIN_REQUIRED_STATUS) {
                        chat.signedOut();
                        return;
                    }
                    if (answer.status !== 200) {  // 503 when the server holds too many: back off
                        throw new Error(answer.body.error);
                    }
                    chat.deliver(answer.body.messages);
                    backoff.reset();
                } catch (e) {
                    const delay = backoff.next();
                    chat.setState("error; retrying in " + (delay / 1000).toFixed(1) + " s");
                    await chat.sleep(delay);
                }
            }
        },
    };

    async function sendFromInput() {
        const text = input.value;
        if (!text.trim() || transport === null) {
            return;
        }
        input.value = "";
        remember(trace.sent, { at: Date.now() });
        try {
            await transport.send(text, chat.clientIdFor(text));
            outgoing = null;  // stored: the next message gets a new id
            chat.showError("");
        } catch (e) {
            chat.showError(e.message);
            chat.keepTyped(text);
        }
    }

    input.focus({ preventScroll: true });  // in the compare page, do not scroll to a panel
    input.onkeyup = function (e) {
        if (e.key === "Enter") {
            submit.click();
        }
    };
    submit.onclick = sendFromInput;

    // A page that is left may stay in the back/forward cache with its held requests open, and
    // a browser opens only about six connections per host: a cached compare page's long polls
    // and event streams would starve the next page. So drop them when the page is hidden
    // (transports may also stop()), and start afresh if the browser shows it again.
    window.addEventListener("pagehide", function () {
        leaving.abort();
        if (transport !== null && transport.stop) {
            transport.stop();
        }
    });
    window.addEventListener("pageshow", function (e) {
        if (e.persisted) {
            window.location.reload();
        }
    });

    return {
        chat: chat,
        trace: trace,
        register(key, factory) {
            if (key === config.strategy) {
                transport = factory(chat);
                transport.start();
            }
        },
    };
})();
