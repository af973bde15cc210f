#!/usr/bin/env node
'use strict';
// Self-test of smsc.js (and client.js) with the npm `smpp` client:
//   node tests/peers/smpp/selftest.js
// Starts smsc.js on a free loopback port, then: wrong password refused, GSM text, UCS2 text,
// a UDH (concatenation header) message, enquire_link, receipts with their TLVs, --stat UNDELIV,
// client.js end to end, SIGTERM -> exit 0. Prints one line per check and "N passed, N failed".

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');
const { requireSmpp } = require('./common');

const smpp = requireSmpp();
const here = __dirname;

/** Starts smsc.js; resolves {child, port, events, next(pred)} once it printed "listening". */
function startSmsc(extra = []) {
  const child = spawn(
    process.execPath,
    [path.join(here, 'smsc.js'), '--port', '0', '--system-id', 'otpgate', '--password', 'secret',
      '--receipt-delay-ms', '100', ...extra],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const events = [];
  const waiters = [];
  const rl = readline.createInterface({ input: child.stdout });
  rl.on('line', (line) => {
    const ev = JSON.parse(line); // every line must be JSON
    events.push(ev);
    for (const w of [...waiters]) {
      if (w.pred(ev)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(ev);
      }
    }
  });
  const next = (pred, ms = 5000) =>
    new Promise((resolve, reject) => {
      const found = events.find(pred);
      if (found) return resolve(found);
      const w = { pred, resolve };
      waiters.push(w);
      setTimeout(() => reject(new Error('smsc.js event not seen in time')), ms).unref();
    });
  return next((e) => e.event === 'listening').then((ev) => ({ child, port: ev.port, events, next }));
}

function stop(child) {
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
    child.kill('SIGTERM');
  });
}

/** Connects and binds a transceiver; resolves {session, status}. */
function bind(port, password = 'secret') {
  return new Promise((resolve, reject) => {
    const session = smpp.connect({ host: '127.0.0.1', port });
    session.on('error', reject);
    session.on('connect', () => {
      session.bind_transceiver({ system_id: 'otpgate', password }, (resp) =>
        resolve({ session, status: resp.command_status }),
      );
    });
  });
}

/** Submits one message and waits for its resp and (if asked) its receipt. */
function submitAndReceipt(session, opts, wantReceipt = true) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no submit_sm_resp/receipt in time')), 5000);
    let resp = null;
    let receipt = null;
    const done = () => {
      if (resp && (receipt || !wantReceipt)) {
        clearTimeout(t);
        session.removeListener('deliver_sm', onDeliver);
        resolve({ resp, receipt });
      }
    };
    const onDeliver = (pdu) => {
      session.send(pdu.response());
      receipt = pdu;
      done();
    };
    session.on('deliver_sm', onDeliver);
    session.submit_sm(
      { source_addr: 'otpgate', source_addr_ton: 5, destination_addr: '15551234567',
        dest_addr_ton: 1, dest_addr_npi: 1, registered_delivery: wantReceipt ? 1 : 0, ...opts },
      (pdu) => {
        resp = pdu;
        done();
      },
    );
  });
}

function unbind(session) {
  return new Promise((resolve) => session.unbind((resp) => {
    session.close();
    resolve(resp.command_status);
  }));
}

function runClient(port, extra) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(here, 'client.js'), '--port', String(port),
      '--system-id', 'otpgate', '--password', 'secret', '--to', '15551234567', ...extra]);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => resolve({ code, lines: out.trim().split('\n').map((l) => JSON.parse(l)), err }));
  });
}

const RECEIPT_RE =
  /^id:(\S+) sub:001 dlvrd:(\d{3}) submit date:(\d{10}) done date:(\d{10}) stat:(\w+) err:000 text:$/;

const checks = [];
const check = (name, fn) => checks.push({ name, fn });

check('wrong password is refused with ESME_RINVPASWD', async ({ port, next }) => {
  const { session, status } = await bind(port, 'nope');
  assert.equal(status, smpp.ESME_RINVPASWD);
  const ev = await next((e) => e.event === 'bind' && e.ok === false);
  assert.equal(ev.system_id, 'otpgate');
  session.destroy();
});

check('GSM text: raw bytes, decoded text, DELIVRD receipt with TLVs', async ({ port, next }) => {
  const { session, status } = await bind(port);
  assert.equal(status, 0);
  const text = 'Your code is 123456 @$_ {€}';
  const { resp, receipt } = await submitAndReceipt(session, { short_message: text });
  assert.equal(resp.command_status, 0);
  assert.match(resp.message_id, /^\d+$/);
  const ev = await next((e) => e.event === 'submit_sm' && e.message_id === resp.message_id);
  assert.equal(ev.data_coding, 1, 'npm smpp sends GSM 03.38 as data_coding 1');
  assert.equal(ev.text, text);
  assert.equal(ev.short_message_hex, Buffer.from(smpp.encodings.ASCII.encode(text)).toString('hex'));
  assert.equal(ev.destination_addr, '15551234567');
  assert.equal(ev.source_addr_ton, 5);
  assert.equal(ev.registered_delivery, 1);
  assert.equal(receipt.esm_class, 0x04);
  assert.equal(receipt.source_addr, '15551234567');
  assert.equal(receipt.destination_addr, 'otpgate');
  assert.equal(receipt.receipted_message_id, resp.message_id);
  assert.equal(receipt.message_state, 2);
  const m = RECEIPT_RE.exec(receipt.short_message.message);
  assert.ok(m, `receipt text: ${receipt.short_message.message}`);
  assert.equal(m[1], resp.message_id);
  assert.equal(m[5], 'DELIVRD');
  const ack = await next((e) => e.event === 'deliver_sm_resp' && e.message_id === resp.message_id);
  assert.equal(ack.command_status, 0);
  assert.equal(await unbind(session), 0);
  await next((e) => e.event === 'unbind');
});

check('UCS2 text (Arabic + emoji) with data_coding 8', async ({ port, next }) => {
  const { session } = await bind(port);
  const text = 'رمز التحقق 4821 😀';
  const { resp, receipt } = await submitAndReceipt(session, { short_message: text, data_coding: 8 });
  const ev = await next((e) => e.event === 'submit_sm' && e.message_id === resp.message_id);
  assert.equal(ev.data_coding, 8);
  assert.equal(ev.text, text);
  assert.equal(ev.short_message_hex, Buffer.from(text, 'utf16le').swap16().toString('hex'));
  assert.equal(receipt.receipted_message_id, resp.message_id);
  await unbind(session);
});

check('UDH (esm_class 0x40) is stripped from text and shown as udh_hex', async ({ port, next }) => {
  const { session } = await bind(port);
  const udh = Buffer.from([0x05, 0x00, 0x03, 0x2a, 0x02, 0x01]);
  const { resp } = await submitAndReceipt(session, { short_message: { udh, message: 'Part one' } }, false);
  const ev = await next((e) => e.event === 'submit_sm' && e.message_id === resp.message_id);
  assert.equal(ev.esm_class & 0x40, 0x40);
  assert.equal(ev.udh_hex, '0500032a0201');
  assert.equal(ev.text, 'Part one');
  const ucs = await submitAndReceipt(session, { short_message: { udh, message: 'جزء' }, data_coding: 8 }, false);
  const ev2 = await next((e) => e.event === 'submit_sm' && e.message_id === ucs.resp.message_id);
  assert.equal(ev2.text, 'جزء');
  await unbind(session);
});

check('enquire_link is answered', async ({ port }) => {
  const { session } = await bind(port);
  const status = await new Promise((resolve) => session.enquire_link((r) => resolve(r.command_status)));
  assert.equal(status, 0);
  await unbind(session);
});

check('client.js: GSM and --ucs2 end to end', async ({ port, next }) => {
  const gsm = await runClient(port, ['--text', 'Your code is 777111']);
  assert.equal(gsm.code, 0, gsm.err);
  const r = gsm.lines.find((l) => l.event === 'submit_sm_resp');
  const rc = gsm.lines.find((l) => l.event === 'receipt');
  assert.equal(r.command_status, 0);
  assert.equal(rc.receipted_message_id, r.message_id);
  assert.equal(rc.message_state, 2);
  const ev = await next((e) => e.event === 'submit_sm' && e.message_id === r.message_id);
  assert.equal(ev.text, 'Your code is 777111');
  const ucs = await runClient(port, ['--text', 'رمزك 5150', '--ucs2']);
  assert.equal(ucs.code, 0, ucs.err);
  const r2 = ucs.lines.find((l) => l.event === 'submit_sm_resp');
  const ev2 = await next((e) => e.event === 'submit_sm' && e.message_id === r2.message_id);
  assert.equal(ev2.data_coding, 8);
  assert.equal(ev2.text, 'رمزك 5150');
});

check('client.js: wrong password exits 1', async ({ port }) => {
  const res = await new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(here, 'client.js'), '--port', String(port),
      '--system-id', 'otpgate', '--password', 'bad', '--to', '1', '--text', 'x']);
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => resolve({ code, err }));
  });
  assert.equal(res.code, 1);
  assert.match(res.err, /bind_transceiver refused/);
});

async function main() {
  let passed = 0;
  let failed = 0;
  const smsc = await startSmsc();
  for (const { name, fn } of checks) {
    try {
      await fn(smsc);
      passed++;
      console.log(`ok   ${name}`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${name}: ${e.stack}`);
    }
  }
  const exit = await stop(smsc.child);
  try {
    assert.deepEqual(exit, { code: 0, signal: null });
    passed++;
    console.log('ok   SIGTERM -> exit 0');
  } catch (e) {
    failed++;
    console.log(`FAIL SIGTERM -> exit 0: ${JSON.stringify(exit)}`);
  }
  // --stat UNDELIV: message_state 5 and stat:UNDELIV.
  const undeliv = await startSmsc(['--stat', 'UNDELIV']);
  try {
    const { session } = await bind(undeliv.port);
    const { resp, receipt } = await submitAndReceipt(session, { short_message: 'code 1' });
    assert.equal(receipt.message_state, 5);
    assert.equal(receipt.receipted_message_id, resp.message_id);
    assert.equal(RECEIPT_RE.exec(receipt.short_message.message)[5], 'UNDELIV');
    await unbind(session);
    passed++;
    console.log('ok   --stat UNDELIV');
  } catch (e) {
    failed++;
    console.log(`FAIL --stat UNDELIV: ${e.stack}`);
  }
  await stop(undeliv.child);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
