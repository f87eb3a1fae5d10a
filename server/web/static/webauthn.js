// Security keys and passkeys: registers one on the 2FA set-up page and signs in with
// one at the second step. The server sends the options of navigator.credentials.create
// and .get as JSON with base64url byte strings; this converts them to ArrayBuffers and
// the browser's answer back, and follows the page the server names next.
(function () {
  'use strict';
  if (!window.PublicKeyCredential || !navigator.credentials) {
    var e = document.getElementById('webauthn-error');
    if (e) { e.textContent = 'This browser cannot use security keys.'; e.hidden = false; }
    return;
  }
  function toB64u(buf) {
    var bytes = new Uint8Array(buf), s = '';
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function fromB64u(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function ids(list) {
    (list || []).forEach(function (c) { c.id = fromB64u(c.id); });
  }
  function post(url, body) {
    return fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
      body: JSON.stringify(body || {})
    }).then(function (r) {
      if ((r.headers.get('Content-Type') || '').indexOf('json') < 0) {
        throw new Error('Your session ended. Sign in again.');
      }
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) throw new Error(j.detail || 'The server refused the request.');
        return j;
      });
    });
  }
  function answer(c) {
    var r = c.response, out = {
      id: c.id, rawId: toB64u(c.rawId), type: c.type,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64u(r.clientDataJSON) }
    };
    if (c.authenticatorAttachment) out.authenticatorAttachment = c.authenticatorAttachment;
    if (r.attestationObject) {
      out.response.attestationObject = toB64u(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = toB64u(r.authenticatorData);
      out.response.signature = toB64u(r.signature);
      if (r.userHandle) out.response.userHandle = toB64u(r.userHandle);
    }
    return out;
  }
  function fail(err) {
    var e = document.getElementById('webauthn-error');
    var msg = err && err.name === 'NotAllowedError' ? 'The security key was not used, or the request timed out.' :
      (err && err.message) || 'Something went wrong.';
    e.textContent = msg;
    e.hidden = false;
  }
  function busy(button, on) { button.disabled = on; }

  var signin = document.getElementById('webauthn-signin-button');
  if (signin) {
    signin.addEventListener('click', function () {
      busy(signin, true);
      post('/signin/2fa/webauthn/begin').then(function (o) {
        var pk = o.publicKey;
        pk.challenge = fromB64u(pk.challenge);
        ids(pk.allowCredentials);
        return navigator.credentials.get({ publicKey: pk });
      }).then(function (c) {
        return post('/signin/2fa/webauthn/finish', answer(c));
      }).then(function (j) {
        window.location.assign(j.next);
      }).catch(function (err) { busy(signin, false); fail(err); });
    });
  }

  // showCodes shows the recovery codes of a first second factor once, then goes on.
  function showCodes(codes, next) {
    var box = document.getElementById('webauthn-codes');
    var list = box.querySelector('ul');
    codes.forEach(function (c) {
      var li = document.createElement('li'), code = document.createElement('code');
      code.textContent = c;
      li.appendChild(code);
      list.appendChild(li);
    });
    document.getElementById('webauthn-continue').setAttribute('href', next);
    box.hidden = false;
    register.hidden = true;
  }

  var register = document.getElementById('webauthn-register-button');
  if (register) {
    register.addEventListener('click', function () {
      busy(register, true);
      var name = document.getElementById('webauthn-name').value;
      post('/account/2fa/webauthn/begin').then(function (o) {
        var pk = o.publicKey;
        pk.challenge = fromB64u(pk.challenge);
        pk.user.id = fromB64u(pk.user.id);
        ids(pk.excludeCredentials);
        return navigator.credentials.create({ publicKey: pk });
      }).then(function (c) {
        return post('/account/2fa/webauthn/finish', { name: name, credential: answer(c) });
      }).then(function (j) {
        if (j.codes && j.codes.length) showCodes(j.codes, j.next);
        else window.location.assign(j.next);
      }).catch(function (err) { busy(register, false); fail(err); });
    });
  }
})();
