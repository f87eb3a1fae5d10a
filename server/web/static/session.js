// Warns before the session's idle timeout ends it: two minutes before (or at a fifth
// of a short timeout), a banner offers to stay signed in, which asks the server to
// count this as activity. Playing a video keeps the session alive by itself.
(function () {
  'use strict';
  var left = parseInt(document.body.dataset.idleSeconds, 10);
  if (!(left > 0)) return;
  var box = document.getElementById('idle-warning');
  var text = document.getElementById('idle-left');
  var deadline = Date.now() + left * 1000;
  var lead = Math.min(120, Math.max(10, Math.floor(left / 5)));
  function tick() {
    var s = Math.round((deadline - Date.now()) / 1000);
    if (s <= 0) {
      window.location.assign('/signin');
      return;
    }
    if (s <= lead) {
      text.textContent = s > 60 ? Math.ceil(s / 60) + ' minutes' : s + ' seconds';
      box.hidden = false;
    } else {
      box.hidden = true;
    }
  }
  document.getElementById('idle-stay').addEventListener('click', function () {
    fetch('/account/keepalive', { credentials: 'same-origin', headers: { 'Accept': 'application/json' } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (j) { deadline = Date.now() + j.idle_seconds * 1000; tick(); })
      .catch(function () { window.location.assign('/signin'); });
  });
  setInterval(tick, 1000);
  tick();
})();
