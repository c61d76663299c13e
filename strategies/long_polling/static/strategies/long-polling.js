"use strict";
// Long polling: the server holds each request until a message exists (or its timeout
// passes); the client asks again at once, and backs off after errors (chat.longPoll).
pushlab.register("long-polling", function (chat) {
    return {
        start: () => chat.longPoll("/wait"),
        send: (text) => chat.postMessage(text),  // the waiting request brings it back
    };
});
