"use strict";
// HTTP streaming: one fetch() whose response never ends; the server writes each message as
// one line of JSON (newline-delimited JSON) and an empty line when the room is quiet. The
// page reads the body with a ReadableStream, decodes it, splits it on newlines and keeps an
// unfinished line for the next chunk. Unlike EventSource nothing reconnects by itself: when
// the stream ends or breaks, this page opens a new one after a backoff, with ?after= the
// newest id it has (there is no Last-Event-ID).
pushlab.register("http-streaming", function (chat) {
    const backoff = chat.backoff();
    let controller = null;
    let stopped = false;

    function streamUrl() {
        return chat.apiUrl("").replace(/\/messages$/, "/stream") + "?after=" + chat.lastId();
    }

    // Each complete line of `text` delivered; what follows the last newline is returned.
    function deliverLines(text) {
        const lines = text.split("\n");
        const rest = lines.pop();
        const messages = lines.filter((line) => line.trim() !== "").map((line) => JSON.parse(line));
        if (messages.length) {
            chat.deliver(messages);
        }
        return rest;
    }

    async function read(response) {
        const reader = response.body.getReader();
        const decoder = new TextDecoder();  // keeps a character split across chunks whole
        let pending = "";
        for (;;) {
            const { value, done } = await reader.read();
            if (done) {
                return;
            }
            const text = decoder.decode(value, { stream: true });
            chat.countFrame(text);
            pending = deliverLines(pending + text);
        }
    }

    async function open() {
        chat.setState("connecting");
        controller = new AbortController();
        try {
            const response = await fetch(streamUrl(), {
                credentials: "same-origin",
                headers: { Accept: "application/x-ndjson" },
                signal: controller.signal,
            });
            chat.countRequest(0);  // each (re)connect is one HTTP request
            if (response.status === chat.LOGIN_REQUIRED_STATUS) {
                chat.signedOut();
                return;
            }
            if (response.status === 400) {
                chat.outOfDate();  // this page's last id is not one of the room's
                return;
            }
            if (response.ok) {
                chat.setState("streaming");
                backoff.reset();
                await read(response);
            }
        } catch (e) {
            // the server is away or the stream broke: reconnect after the backoff
        }
        if (!stopped) {
            const delay = backoff.next();
            chat.setState("disconnected; reconnecting in " + (delay / 1000).toFixed(1) + " s");
            setTimeout(open, delay);
        }
    }

    return {
        start: open,
        stop() {  // the page is left (chat.js, "pagehide")
            stopped = true;
            if (controller !== null) {
                controller.abort();
            }
        },
        send: (text) => chat.postMessage(text),  // the stream brings it back
    };
});
