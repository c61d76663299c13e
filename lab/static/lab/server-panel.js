"use strict";
// The compare page's live server panel: what this server process spends right now, from
// /api/metrics once a second (counters are per process; with serve --workers, one of them).
(function () {
    const panel = document.getElementById("server-panel");
    if (!panel) {
        return;
    }
    const routeTitles = JSON.parse(document.getElementById("server-panel-routes").textContent);
    const show = (id, text) => { document.getElementById(id).textContent = text; };
    let previous = null;

    function perSecond(now, before, seconds) {
        return Math.max(0, now - before) / seconds;
    }

    function render(now, before) {
        const seconds = (now.uptime_s - before.uptime_s) || 1;
        // Our own /api/metrics poll is one request (and one INFO) per second: left out.
        show("server-requests", (perSecond(now.http_opened, before.http_opened, seconds) - 1 / seconds).toFixed(1));
        show("server-open-http", String(Math.max(0, now.http_open - 1)));
        show("server-open-sockets", String(now.websocket_open || 0));
        show("server-cpu", (100 * perSecond(now.cpu_s, before.cpu_s, seconds)).toFixed(0) + " %");
        if (now.redis_commands_processed != null && before.redis_commands_processed != null) {
            const redis = perSecond(now.redis_commands_processed, before.redis_commands_processed, seconds);
            show("server-redis", Math.max(0, redis - 1 / seconds).toFixed(1));
        }
        const rows = document.getElementById("server-routes");
        rows.textContent = "";
        const routes = Object.keys(now.opened_by_route || {}).sort();
        for (const route of routes) {
            if (route.startsWith("GET /api/metrics")) {
                continue;
            }
            const rate = perSecond(now.opened_by_route[route], (before.opened_by_route || {})[route] || 0, seconds);
            const row = document.createElement("tr");
            const name = document.createElement("td");
            name.textContent = routeTitles[route] || route;
            name.title = route;
            const value = document.createElement("td");
            value.textContent = rate.toFixed(1);
            row.append(name, value);
            rows.append(row);
        }
        show("server-updated", new Date().toLocaleTimeString());
    }

    async function tick() {
        try {
            const response = await fetch("/api/metrics?redis=1", { cache: "no-store" });
            const now = await response.json();
            if (previous !== null && now.pid === previous.pid) {
                render(now, previous);
            }
            previous = now;
            show("server-state", "live");
        } catch (error) {
            show("server-state", "server unreachable; retrying");
        }
        setTimeout(tick, 1000);
    }
    tick();
})();
