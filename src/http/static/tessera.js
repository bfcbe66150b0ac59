// Progressive enhancement only: every page works without it.
(function () {
  'use strict';

  document.documentElement.classList.add('js');

  // Set-up on a wide screen with a mouse: the QR code is what the phone scans, so it starts open.
  if (window.matchMedia && window.matchMedia('(min-width: 40.01rem) and (pointer: fine)').matches) {
    document.querySelectorAll('details.on-computer').forEach(function (details) { details.open = true; });
  }

  function announce(button, text) {
    var status = button.nextElementSibling;
    if (status && status.classList.contains('copy-status')) status.textContent = text;
  }

  // Clipboard API where the page is a secure context; otherwise the old select-and-copy route.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    return new Promise(function (resolve, reject) {
      var area = document.createElement('textarea');
      area.value = text;
      area.setAttribute('readonly', '');
      area.className = 'offscreen';
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
      document.body.removeChild(area);
      if (ok) resolve(); else reject(new Error('copy failed'));
    });
  }

  // Copy controls are rendered hidden so that without script nobody sees a button that does nothing.
  document.querySelectorAll('button[data-copy]').forEach(function (button) {
    button.hidden = false;
    button.addEventListener('click', function () {
      copyText(button.getAttribute('data-copy') || '').then(
        function () { announce(button, 'Copied'); },
        function () { announce(button, 'Could not copy: select the text and copy it yourself'); }
      );
    });
  });

  // A form is sent once; a double tap must not spend a second code.
  document.querySelectorAll('form[data-once]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      if (form.dataset.sent === '1') { event.preventDefault(); return; }
      form.dataset.sent = '1';
    });
  });

  // A form that needs no decision (an application's sign-out with proof of the session) goes at once.
  document.querySelectorAll('form[data-submit-on-load]').forEach(function (form) { form.submit(); });

  // Submit as soon as the sixth digit is typed or pasted.
  document.querySelectorAll('input[data-autosubmit]').forEach(function (input) {
    input.addEventListener('input', function () {
      var digits = input.value.replace(/[\s-]/g, '');
      if (/^\d{6}$/.test(digits) && input.form && input.form.dataset.sent !== '1') input.form.requestSubmit();
    });
  });
})();
