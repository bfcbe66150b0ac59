// Passkey ceremonies for Tessera's pages, through @simplewebauthn/browser (served from Tessera) and
// the JSON API. Loaded only on pages that offer a passkey; without script those pages say what to
// use instead, and their controls stay hidden.
(function () {
  'use strict';
  var lib = window.SimpleWebAuthnBrowser;
  if (!lib || !lib.browserSupportsWebAuthn()) return;

  function api(path, body) {
    return fetch('/api/v1' + path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (res) {
      return res.text().then(function (text) {
        var data = text ? JSON.parse(text) : {};
        if (!res.ok) {
          var err = new Error((data.error && data.error.message) || 'That did not work. Try again.');
          err.code = data.error && data.error.code;
          throw err;
        }
        return data;
      });
    });
  }

  function say(scope, text) {
    var status = (scope && scope.querySelector('[data-passkey-status]')) || document.querySelector('[data-passkey-status]');
    if (status) status.textContent = text;
  }

  // The browser's own refusals (the person closed the dialog, no key) are not failures to shout about.
  function describe(err) {
    if (err && (err.name === 'NotAllowedError' || err.name === 'AbortError')) return 'The passkey request was cancelled or timed out. Try again, or use another way.';
    return (err && err.message) || 'That did not work. Try again.';
  }

  function authenticate(useAutofill) {
    return api('/sessions/passkey/options').then(function (begun) {
      return lib.startAuthentication({ optionsJSON: begun.options, useBrowserAutofill: useAutofill });
    });
  }

  function signIn(scope, useAutofill) {
    return authenticate(useAutofill)
      .then(function (response) { return api('/sessions/passkey', { response: response }); })
      .then(function () { window.location.assign('/login/passkey-done'); })
      .catch(function (err) {
        if (useAutofill && err && err.name === 'AbortError') return;
        say(scope, describe(err));
        if (err && err.code === 'account_locked') window.location.assign('/login/code');
      });
  }

  document.querySelectorAll('[data-passkey-sign-in]').forEach(function (button) {
    button.hidden = false;
    button.addEventListener('click', function () { signIn(button.closest('section, form, main'), false); });
  });

  // Passkeys offered in the email field's autofill (conditional mediation), on the sign-in page.
  var autofill = document.querySelector('input[autocomplete~="webauthn"]');
  if (autofill && lib.browserSupportsWebAuthnAutofill) {
    lib.browserSupportsWebAuthnAutofill().then(function (ok) { if (ok) signIn(autofill.form, true); });
  }

  // Re-verification with a passkey for a form that also takes an app code: the assertion rides in a hidden field.
  document.querySelectorAll('form[data-passkey-reauth-form]').forEach(function (form) {
    var button = document.createElement('button');
    button.type = 'button';
    button.className = 'secondary';
    button.id = 'confirm-with-passkey';
    button.textContent = 'Confirm with a passkey';
    form.appendChild(button);
    button.addEventListener('click', function () {
      var password = form.querySelector('input[name="password"]');
      if (password && !password.reportValidity()) return;
      authenticate(false).then(function (assertion) {
        form.querySelector('input[name="assertion"]').value = JSON.stringify(assertion);
        var code = form.querySelector('input[name="code"]');
        if (code) { code.required = false; code.value = ''; }
        form.submit();
      }, function (err) { say(form, describe(err)); });
    });
  });

  document.querySelectorAll('form[data-passkey-register]').forEach(function (form) {
    form.hidden = false;
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      if (form.dataset.sent === '1') return;
      form.dataset.sent = '1';
      var field = function (name) { var el = form.querySelector('[name="' + name + '"]'); return el ? el.value : ''; };
      var begin = {};
      if (form.querySelector('[name="password"]')) begin.password = field('password');
      var proof = Promise.resolve();
      if (field('reauth') === '1') {
        if (field('code')) begin.code = field('code');
        else proof = authenticate(false).then(function (assertion) { begin.assertion = assertion; });
      }
      proof
        .then(function () { return api('/me/passkeys/options', begin); })
        .then(function (options) { return lib.startRegistration({ optionsJSON: options }); })
        .then(function (response) { return api('/me/passkeys', { response: response, name: field('name') }); })
        .then(function (created) {
          if (!created.recoveryCode) { window.location.assign(form.dataset.done || '/account/security?done=passkey'); return; }
          form.hidden = true;
          var panel = document.getElementById('passkey-backup');
          document.getElementById('backup-code').textContent = created.recoveryCode;
          panel.hidden = false;
          var go = document.getElementById('continue');
          if (go) go.focus();
        })
        .catch(function (err) { form.dataset.sent = ''; say(form, describe(err)); });
    });
  });
})();
