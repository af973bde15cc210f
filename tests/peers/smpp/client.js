#!/usr/bin/env node
'use strict';
// A third-party ESME for otpgate's tests, built on the npm `smpp` package: checks an SMSC
// (our simulator) against a client we did not write.
//
//   node tests/peers/smpp/client.js --host 127.0.0.1 --port P --system-id otpgate \
//        --password secret --to 15551234567 --text "..." [--ucs2] [--from otpgate]
//        [--data-coding N] [--timeout-ms 10000]
//
// Binds as transceiver, submits one message with registered_delivery 1, waits for
// submit_sm_resp and for the delivery receipt (answered with deliver_sm_resp), unbinds, exits 0.
// One JSON object per line on stdout:
//   {"event":"bind_resp","command_status":0}
//   {"event":"submit_sm","data_coding":..,"esm_class":..,"short_message_hex":".."}  (as sent)
//   {"event":"submit_sm_resp","command_status":0,"message_id":".."}
//   {"event":"receipt","receipted_message_id":"..","message_state":2,"short_message":"id:.."}
//   {"event":"unbind_resp","command_status":0}
// Without --ucs2 or --data-coding the text goes out the way npm smpp picks by itself: GSM 03.38
// bytes with data_coding 1 when the text fits GSM, else Latin-1 (3), else UCS2 (8).
// Exit 1 with a message on stderr on a failed bind or submit, a closed connection, or when it is
// not all done after --timeout-ms (10 s).

const { parseArgs, emit, requireSmpp } = require('./common');

const smpp = requireSmpp();

function fail(msg) {
  process.stderr.write(`client.js: ${msg}\n`);
  process.exit(1);
}

let args;
try {
  args = parseArgs(process.argv.slice(2), ['ucs2']);
} catch (e) {
  fail(e.message);
}
const known = ['host', 'port', 'system-id', 'password', 'to', 'text', 'ucs2', 'from', 'data-coding', 'timeout-ms'];
for (const k of Object.keys(args)) if (!known.includes(k)) fail(`unknown option --${k}`);
for (const k of ['port', 'system-id', 'password', 'to', 'text']) {
  if (args[k] === undefined) fail(`--${k} is required`);
}
const timeoutMs = Number(args['timeout-ms'] || 10000);
let dataCoding = null; // null: npm smpp detects
if (args.ucs2) dataCoding = smpp.ENCODING.UCS2;
if (args['data-coding'] !== undefined) dataCoding = Number(args['data-coding']);

const timer = setTimeout(() => {
  fail(`timed out after ${timeoutMs} ms (state: ${state})`);
}, timeoutMs);

let state = 'connecting';
let messageId = null;
let receipt = null;

const session = smpp.connect({ host: args.host || '127.0.0.1', port: Number(args.port) });
session.on('connect', () => {
  session.socket.setNoDelay(true);
  state = 'binding';
  session.bind_transceiver({ system_id: args['system-id'], password: args.password }, (resp) => {
    emit({ event: 'bind_resp', command_status: resp.command_status });
    if (resp.command_status !== 0) fail(`bind_transceiver refused: status ${resp.command_status}`);
    submit();
  });
});

session.on('error', (e) => fail(`connection error (state: ${state}): ${e.message}`));
session.on('close', () => {
  if (state !== 'done') fail(`connection closed by the SMSC (state: ${state})`);
});

session.on('send', (pdu) => {
  if (pdu.command === 'submit_sm') {
    // After encoding: short_message is the Buffer that went out, data_coding what npm chose.
    emit({
      event: 'submit_sm',
      data_coding: pdu.data_coding,
      esm_class: pdu.esm_class,
      short_message_hex: Buffer.isBuffer(pdu.short_message) ? pdu.short_message.toString('hex') : null,
    });
  }
});

function submit() {
  state = 'submitting';
  const opts = {
    source_addr_ton: 5,
    source_addr_npi: 0,
    source_addr: args.from || 'otpgate',
    dest_addr_ton: 1,
    dest_addr_npi: 1,
    destination_addr: args.to,
    registered_delivery: 1,
    short_message: args.text,
  };
  if (dataCoding !== null) opts.data_coding = dataCoding;
  session.submit_sm(opts, (resp) => {
    emit({ event: 'submit_sm_resp', command_status: resp.command_status, message_id: resp.message_id ?? null });
    if (resp.command_status !== 0) fail(`submit_sm refused: status ${resp.command_status}`);
    messageId = resp.message_id;
    state = receipt ? 'unbinding' : 'waiting for receipt';
    if (receipt) unbind();
  });
}

function textOf(sm) {
  // npm smpp hands deliver_sm's short_message over decoded: {message: string} or {udh, message}.
  if (sm && typeof sm === 'object' && !Buffer.isBuffer(sm)) sm = sm.message;
  if (Buffer.isBuffer(sm)) return sm.toString('latin1');
  return sm ?? '';
}

session.on('deliver_sm', (pdu) => {
  session.send(pdu.response());
  const isReceipt = (pdu.esm_class & 0x3c) === 0x04;
  let text = textOf(pdu.short_message);
  if (!text && pdu.message_payload) text = textOf(pdu.message_payload);
  if (!isReceipt) {
    emit({ event: 'deliver_sm', esm_class: pdu.esm_class, short_message: text });
    return;
  }
  if (receipt) {
    emit({ event: 'extra_receipt', receipted_message_id: pdu.receipted_message_id ?? null, short_message: text });
    return;
  }
  receipt = {
    event: 'receipt',
    receipted_message_id: pdu.receipted_message_id ?? null,
    message_state: pdu.message_state ?? null,
    short_message: text,
  };
  emit(receipt);
  if (messageId !== null) unbind();
});

session.on('enquire_link', (pdu) => session.send(pdu.response()));
session.on('unbind', (pdu) => {
  session.send(pdu.response());
  fail(`the SMSC unbound us (state: ${state})`);
});

function unbind() {
  state = 'unbinding';
  session.unbind((resp) => {
    emit({ event: 'unbind_resp', command_status: resp.command_status });
    state = 'done';
    clearTimeout(timer);
    session.close();
    process.exitCode = 0;
  });
}
