"use strict";
// Short polling: ask for messages after lastId every pollIntervalMs.
pushlab.register("short-polling", function (chat) {
    const backoff = chat.backoff();
    let timer = null;

    async function poll() {
        clearTimeout(timer);
        let delay = chat.config.pollIntervalMs;
        try {
            const answer = await chat.fetchJson(chat.apiUrl("?after=" + chat.lastId()));
            if (answer.status === chat.LOGIN_REQUIRED_STATUS) {
                chat.signedOut();
                return;
            }
            if (answer.status !== 200) {
                throw new Error(answer.body.error);
            }
            chat.deliver(answer.body.messages);
            chat.setState("polling");
            backoff.reset();
        } catch (e) {
            delay = backoff.next();
            chat.setState("error; retrying in " + (delay / 1000).toFixed(1) + " s");
        }
        timer = setTimeout(poll, delay);
    }

    return {
        start: poll,
        async send(text) {
            await chat.postMessage(text);
            poll();  // show it now rather than at the next tick
        },
    };
});
