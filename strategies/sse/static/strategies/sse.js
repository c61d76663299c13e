"use strict";
// Server-Sent Events: one held response; the server writes each message as an event.
// EventSource reconnects by itself after a broken stream, sending Last-Event-ID, so the
// server resumes after the newest message this page has. It gives up only when the server
// answers with an error status; then the page asks the API why, and either stops (signed
// out, out of date) or opens a new stream after a backoff.
pushlab.register("sse", function (chat) {
    const backoff = chat.backoff();
    let source = null;

    function open() {
        chat.setState("connecting");
        source = new EventSource(chat.apiUrl("").replace(/\/messages$/, "/events") +
            "?after=" + chat.lastId());
        source.onopen = function () {
            chat.countRequest(0);  // each (re)connect is one HTTP request
            chat.setState("streaming");
            backoff.reset();
        };
        source.onmessage = function (e) {
            chat.countFrame(e.data);
            chat.deliver([JSON.parse(e.data)]);
        };
        source.onerror = function () {
            if (source.readyState === EventSource.CONNECTING) {
                chat.setState("reconnecting");  // the browser retries with Last-Event-ID
                return;
            }
            source.close();  // refused (4xx/503): EventSource will not retry by itself
            recover();
        };
    }

    async function recover() {
        const delay = backoff.next();
        try {
            const answer = await chat.fetchJson(chat.apiUrl("?after=" + chat.lastId()));
            if (answer.status === chat.LOGIN_REQUIRED_STATUS) {
                chat.signedOut();
                return;
            }
            if (answer.status === 400) {
                chat.outOfDate();  // this page's last id is not one of the room's
                return;
            }
            if (answer.status === 200) {
                chat.deliver(answer.body.messages);
            }
        } catch (e) {
            // the server is away: retry after the backoff
        }
        chat.setState("disconnected; reconnecting in " + (delay / 1000).toFixed(1) + " s");
        setTimeout(open, delay);
    }

    return {
        start: open,
        stop: () => source && source.close(),  // the page is left (chat.js, "pagehide")
        send: (text) => chat.postMessage(text),  // the stream brings it back
    };
});
