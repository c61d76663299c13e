"use strict";
// WebSocket: the lecture's client, plus resume. Each (re)connect sends
// ?after=<lastId>, and the server first sends what this page missed.
pushlab.register("websocket", function (chat) {
    const backoff = chat.backoff();
    let socket = null;

    function connect() {
        chat.setState("connecting");
        const scheme = window.location.protocol === "https:" ? "wss" : "ws";
        const url = scheme + "://" + window.location.host + "/ws/chat/" +
            encodeURIComponent(chat.config.room) + "/?after=" + chat.lastId();
        socket = new WebSocket(url);
        socket.onopen = function () {
            chat.setState("connected");
            backoff.reset();
        };
        socket.onmessage = function (e) {
            chat.countFrame(e.data);
            const data = JSON.parse(e.data);
            if (data.error) {
                chat.showError(data.error);
            } else {
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
        send(text) {
            if (socket === null || socket.readyState !== WebSocket.OPEN) {
                throw new Error("not connected; the message was not sent");
            }
            socket.send(JSON.stringify({ message: text }));
        },
    };
});
