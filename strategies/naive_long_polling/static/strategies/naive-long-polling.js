"use strict";
// Naive long polling: long polling's loop on its own endpoint; only the server differs
// (it asks the database every PUSHLAB_NAIVE_POLL_MS while the request waits).
pushlab.register("naive-long-polling", function (chat) {
    return {
        start: () => chat.longPoll("/naive-wait"),
        send: (text) => chat.postMessage(text),  // the waiting request brings it back
    };
});
