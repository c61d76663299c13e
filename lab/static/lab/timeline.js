"use strict";
// The compare page's live timeline: one lane per panel, drawn from that panel's own traffic
// (window.pushlab.trace in its iframe), so the class sees polling, holding and pushing.
(function () {
    const canvas = document.getElementById("timeline");
    if (!canvas) {
        return;
    }
    const panels = [...document.querySelectorAll(".panels iframe")];
    const WINDOW_MS = 10000;
    const LABEL_PX = 150;

    function traceOf(panel) {
        try {
            const page = panel.contentWindow && panel.contentWindow.pushlab;
            return page ? page.trace : null;
        } catch (e) {
            return null;  // not loaded yet
        }
    }

    function draw() {
        const ctx = canvas.getContext("2d");
        const width = canvas.width;
        const laneHeight = (canvas.height - 20) / Math.max(1, panels.length);
        const now = Date.now();
        const x = (t) => LABEL_PX + (width - LABEL_PX - 10) * (1 - (now - t) / WINDOW_MS);
        const visible = (t) => t >= now - WINDOW_MS;
        ctx.clearRect(0, 0, width, canvas.height);
        ctx.font = "13px sans-serif";
        const counts = {};
        const sent = [];
        panels.forEach((panel, lane) => {
            const top = lane * laneHeight;
            const middle = top + laneHeight / 2;
            const colour = panel.dataset.colour || "#555";
            const key = panel.id.replace(/^panel-/, "");
            ctx.fillStyle = "#333";
            ctx.fillText(panel.title, 4, middle + 4);
            ctx.strokeStyle = "#ddd";
            ctx.beginPath();
            ctx.moveTo(LABEL_PX, top + laneHeight);
            ctx.lineTo(width, top + laneHeight);
            ctx.stroke();
            const trace = traceOf(panel);
            counts[key] = { requests: 0, frames: 0, messages: 0 };
            if (!trace) {
                return;
            }
            ctx.fillStyle = colour;
            for (const request of trace.requests) {
                const end = request.end === null ? now : request.end;
                if (!visible(end)) {
                    continue;
                }
                const start = Math.max(request.at, now - WINDOW_MS);
                const barHeight = request.method === "POST" ? laneHeight * 0.18 : laneHeight * 0.3;
                ctx.globalAlpha = request.end === null ? 0.5 : 1;
                ctx.fillRect(x(start), middle - barHeight / 2, Math.max(3, x(end) - x(start)), barHeight);
                ctx.globalAlpha = 1;
                counts[key].requests += 1;
            }
            ctx.strokeStyle = colour;
            ctx.lineWidth = 2;
            for (const frame of trace.frames.filter((f) => visible(f.at))) {
                ctx.beginPath();
                ctx.moveTo(x(frame.at), top + 4);
                ctx.lineTo(x(frame.at), top + laneHeight - 4);
                ctx.stroke();
                counts[key].frames += 1;
            }
            ctx.lineWidth = 1;
            ctx.fillStyle = "#111";
            for (const message of trace.messages.filter((m) => visible(m.at))) {
                const cx = x(message.at);
                const cy = top + 8;
                ctx.beginPath();
                ctx.moveTo(cx, cy - 6);
                ctx.lineTo(cx + 6, cy);
                ctx.lineTo(cx, cy + 6);
                ctx.lineTo(cx - 6, cy);
                ctx.closePath();
                ctx.fill();
                counts[key].messages += 1;
            }
            sent.push(...trace.sent.filter((s) => visible(s.at)));
        });
        ctx.strokeStyle = "#888";
        ctx.setLineDash([4, 4]);
        for (const message of sent) {
            ctx.beginPath();
            ctx.moveTo(x(message.at), 0);
            ctx.lineTo(x(message.at), canvas.height - 20);
            ctx.stroke();
        }
        ctx.setLineDash([]);
        ctx.fillStyle = "#666";
        for (let s = 10; s >= 0; s -= 2) {
            ctx.fillText(s ? "−" + s + " s" : "now", x(now - s * 1000) - 12, canvas.height - 4);
        }
        canvas.dataset.drawn = JSON.stringify({ lanes: counts, sent: sent.length });
    }
    setInterval(draw, 250);
})();
