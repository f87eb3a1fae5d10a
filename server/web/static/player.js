// Aula player: the first video track (screen, or camera) with the audio in the main
// element, the other video muted beside it or inside it, kept on one timeline.
(function () {
  "use strict";
  var stage = document.getElementById("stage");
  var main = document.getElementById("main");
  var second = document.getElementById("second");

  function attach(video, url) {
    if (window.Hls && Hls.isSupported()) {
      var hls = new Hls({ enableWorker: true, lowLatencyMode: false });
      hls.on(Hls.Events.ERROR, function (_, data) {
        if (data.fatal) { console.warn("hls fatal", data.type, data.details); }
      });
      hls.loadSource(url);
      hls.attachMedia(video);
      return hls;
    }
    video.src = url; // native HLS (Safari)
    return null;
  }

  attach(main, stage.dataset.main);
  if (second) {
    attach(second, stage.dataset.second);
    // One timeline: the main element's clock leads, the second follows.
    main.addEventListener("play", function () { second.play().catch(function () {}); });
    main.addEventListener("pause", function () { second.pause(); });
    main.addEventListener("seeking", function () { second.currentTime = main.currentTime; });
    main.addEventListener("ratechange", function () { second.playbackRate = main.playbackRate; });
    setInterval(function () {
      if (!main.paused && Math.abs(second.currentTime - main.currentTime) > 0.25) {
        second.currentTime = main.currentTime;
      }
    }, 1000);
  }

  var layout = document.getElementById("layout");
  layout.addEventListener("click", function () {
    var pip = stage.classList.toggle("pip");
    stage.classList.toggle("side-by-side", !pip);
    layout.setAttribute("aria-pressed", String(pip));
    layout.textContent = pip ? "Side by side" : "Picture in picture";
  });
  document.getElementById("play").addEventListener("click", function () {
    main.play().catch(function (e) { console.warn("play refused", e.name); });
  });
})();
