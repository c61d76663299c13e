"use strict";
// The lecture's index page, plus a strategy chooser.
const roomInput = document.querySelector("#room-name-input");
roomInput.focus();
roomInput.onkeyup = function (e) {
    if (e.key === "Enter") {
        document.querySelector("#room-name-submit").click();
    }
};
document.querySelector("#room-name-submit").onclick = function () {
    const roomName = roomInput.value.trim();
    if (!roomName) {
        return;
    }
    const strategy = document.querySelector("input[name=strategy]:checked").value;
    window.location.href = "/chat/" + encodeURIComponent(roomName) + "/?strategy=" + strategy;
};
