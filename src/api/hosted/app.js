// The hosted page's only script (served by the engine; the Content-Security-Policy allows no
// other). The page works without it; this adds the number check as you type, the resend
// countdown, WebOTP (the browser offers the code from the SMS), and news of a channel fallback.
(function () {
  'use strict';
  var main = document.getElementById('main');
  if (!main) return;
  var data = main.dataset;
  var fill = function (text, values) {
    return text.replace(/\{(\w+)\}/g, function (m, key) { return key in values ? values[key] : m; });
  };
  var live = document.getElementById('announce');
  var announce = function (text) {
    if (!live) return;
    live.textContent = '';
    setTimeout(function () { live.textContent = text; }, 60);
  };

  // One submit per press: a second click or Enter while the first is in flight does nothing.
  Array.prototype.forEach.call(document.querySelectorAll('form'), function (form) {
    form.addEventListener('submit', function (event) {
      if (form.dataset.sent) { event.preventDefault(); return; }
      form.dataset.sent = '1';
    });
  });

  // Number entry: the country's prefix, and a length check of the number as it is typed (the
  // server checks it fully with libphonenumber).
  var country = document.getElementById('country');
  var national = document.getElementById('national');
  if (country && national) {
    var prefix = document.getElementById('prefix');
    var check = document.getElementById('phone-check');
    var callingCode = function () { return country.options[country.selectedIndex].getAttribute('data-code'); };
    var validate = function () {
      prefix.textContent = '+' + callingCode();
      var raw = national.value.replace(/[\s().-]/g, '');
      if (!raw) { check.textContent = ''; return; }
      var whole = raw.charAt(0) === '+';
      var digits = whole ? raw.slice(1) : raw;
      var all = whole ? digits : callingCode() + digits;
      var message;
      if (!/^[0-9]+$/.test(digits)) message = data.e164Digits;
      else if (digits.length < 4 || all.length < 8) message = data.e164Short;
      else if (all.length > 15) message = data.e164Long;
      else message = fill(data.e164Ok, { phone: '+' + all });
      check.textContent = message;
    };
    country.addEventListener('change', validate);
    national.addEventListener('input', validate);
    validate();
  }

  // Resend: disabled until the cooldown is over, with a visible countdown; the end is announced.
  var resend = document.getElementById('resend');
  var countdown = document.getElementById('countdown');
  if (resend && countdown) {
    var left = parseInt(resend.getAttribute('data-wait'), 10) || 0;
    var tick = function () {
      if (left <= 0) {
        resend.disabled = false;
        countdown.hidden = true;
        announce(data.ready);
        return;
      }
      countdown.hidden = false;
      countdown.textContent = fill(data.wait, { n: left });
      left -= 1;
      setTimeout(tick, 1000);
    };
    if (left > 0) tick();
  }

  var code = document.getElementById('code');
  if (!code) return;

  // WebOTP: the SMS ends with "@host #code"; Chrome on Android offers the code from it.
  if ('OTPCredential' in window && window.AbortController) {
    var abort = new AbortController();
    code.form.addEventListener('submit', function () { abort.abort(); });
    navigator.credentials.get({ otp: { transport: ['sms'] }, signal: abort.signal }).then(function (otp) {
      if (otp && otp.code) { code.value = otp.code; code.form.requestSubmit(); }
    }).catch(function () {});
  }

  // A fallback can move the code to another channel while the person waits: say so.
  var sent = document.getElementById('sent');
  var fallback = document.getElementById('fallback');
  var names = (data.channels || '').split('|');
  var order = ['sms', 'whatsapp', 'telegram', 'rcs', 'viber', 'call'];
  var name = function (channel) { return names[order.indexOf(channel)] || channel; };
  var poll = function () {
    fetch('status', { credentials: 'same-origin', cache: 'no-store' })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (state) {
        if (!state) return;
        if (state.status !== 'In Progress') { window.location.replace('./'); return; }
        var shown = sent && sent.getAttribute('data-channel');
        if (sent && state.channel && shown && state.channel !== shown) {
          var text = fill(data.fellBack, { channel: name(state.fell_back_from || shown), to: name(state.channel) });
          sent.setAttribute('data-channel', state.channel);
          fallback.textContent = text;
          fallback.hidden = false;
          announce(text);
        }
      })
      .catch(function () {})
      .then(function () { setTimeout(poll, 4000); });
  };
  setTimeout(poll, 4000);
})();
