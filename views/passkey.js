// The passkey buttons: forms marked data-passkey ("sign-in" or "register") stay hidden unless the
// browser can use passkeys. Submitting one fetches a challenge from the form's data-options URL,
// runs the browser's ceremony (@simplewebauthn/browser, loaded before this file), puts its answer
// into the form's `response` field and posts the form. A sign-in form marked data-autofill also
// offers the person's passkeys in the email field's autofill (conditional mediation).
(function () {
  'use strict';
  var webauthn = window.SimpleWebAuthnBrowser;
  if (!webauthn || !webauthn.browserSupportsWebAuthn()) return;

  function optionsFor(form) {
    var pending = form.elements.namedItem('pending');
    var body = { csrf: form.elements.namedItem('csrf').value };
    if (pending) body.pending = pending.value;
    return fetch(form.dataset.options, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
    }).then(function (response) {
      if (!response.ok) throw new Error('no challenge: ' + response.status);
      return response.json();
    });
  }

  function ceremony(form, autofill) {
    return optionsFor(form).then(function (optionsJSON) {
      return form.dataset.passkey === 'register'
        ? webauthn.startRegistration({ optionsJSON: optionsJSON })
        : webauthn.startAuthentication({ optionsJSON: optionsJSON, useBrowserAutofill: autofill });
    }).then(function (answer) {
      form.elements.namedItem('response').value = JSON.stringify(answer);
      form.submit();
    });
  }

  function showFailure(form, error) {
    // A ceremony given up for another (the button pressed while autofill waited) is no failure.
    if (error && error.name === 'AbortError') return;
    var alert = form.querySelector('[data-passkey-error]');
    if (alert) alert.hidden = false;
  }

  document.querySelectorAll('form[data-passkey]').forEach(function (form) {
    form.hidden = false;
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      ceremony(form, false).catch(function (error) { showFailure(form, error); });
    });
  });

  var autofill = document.querySelector('form[data-passkey="sign-in"][data-autofill]');
  if (autofill) {
    webauthn.browserSupportsWebAuthnAutofill().then(function (supported) {
      if (supported) return ceremony(autofill, true);
    }).catch(function () { /* the person may still press the button or use the password */ });
  }
})();
