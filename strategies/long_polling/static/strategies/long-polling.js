"use strict";
// Long polling: the server holds each request until a message exists (or its
// timeout passes); the client asks again at once, and backs off after errors.
pushlab.register("long-polling", function (chat) {
    const backoff = chat.backoff();

    async function loop() {
        for (;;) {
            chat.setState("waiting");
            try {
                const query = "/wait?after=" + chat.lastId() + "&timeout=" + chat.config.longPollTimeoutS;
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
    }

    return {
        start: loop,
        send: (text) => chat.postMessage(text),  // the waiting request brings it back
    };
});
