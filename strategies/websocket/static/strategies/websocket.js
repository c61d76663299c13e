"use strict";
// WebSocket: the lecture's client, plus resume. Each (re)connect sends
// ?after=<lastId>, and the server first sends what this page missed.
pushlab.register("websocket", function (chat) {
    const backoff = chat.backoff();
    let socket = null;
    // Frames sent but not yet seen back stored (by their client_id): a socket that drops
    // may have lost them, so they are sent again on the next socket; the server stores
    // each client_id once, so a frame that did arrive is not stored twice. A frame the
    // server refused (its error frame names the client_id) is dropped, never sent again.
    const unconfirmed = new Map();  // client_id -> {frame, text}

    function connect() {
        chat.setState("connecting");
        const scheme = window.location.protocol === "https:" ? "wss" : "ws";
        const url = scheme + "://" + window.location.host + "/ws/chat/" +
            encodeURIComponent(chat.config.room) + "/?after=" + chat.lastId();
        socket = new WebSocket(url);
        socket.onopen = function () {
            chat.setState("connected");
            backoff.reset();
            for (const pending of unconfirmed.values()) {
                socket.send(pending.frame);
            }
        };
        socket.onmessage = function (e) {
            chat.countFrame(e.data);
            const data = JSON.parse(e.data);
            if (data.error) {
                chat.showError(data.error);
                const refused = unconfirmed.get(data.client_id);
                if (refused !== undefined) {  // bad, or too fast: re-sending would not help
                    unconfirmed.delete(data.client_id);
                    chat.keepTyped(refused.text);
                }
            } else {
                unconfirmed.delete(data.client_id);
                chat.deliver([data]);
            }
        };
        socket.onclose = function (e) {
            if (e.code === chat.config.closeCodes.loginRequired) {
                chat.signedOut();
                return;
            }
            if (e.code === chat.config.closeCodes.badCursor) {
                chat.outOfDate();  // the error frame before the close said why
                return;
            }
            // Anything else (a server restart, the network, 4013 "too many sockets, try
            // again later"): reconnect with jittered backoff; ?after= makes the server
            // send what this page missed first.
            const delay = backoff.next();
            chat.setState("disconnected; reconnecting in " + (delay / 1000).toFixed(1) + " s");
            setTimeout(connect, delay);
        };
    }

    return {
        start: connect,
        send(text, clientId) {
            if (socket === null || socket.readyState !== WebSocket.OPEN) {
                throw new Error("not connected; the message was not sent");
            }
            const frame = JSON.stringify({ message: text, client_id: clientId });
            unconfirmed.set(clientId, { frame: frame, text: text });
            socket.send(frame);
        },
    };
});
