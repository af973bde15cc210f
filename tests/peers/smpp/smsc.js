#!/usr/bin/env node
'use strict';
// A third-party SMSC for otpgate's tests, built on the npm `smpp` package (smpp.createServer).
//
//   node tests/peers/smpp/smsc.js --port 0 --system-id otpgate --password secret \
//        [--host 127.0.0.1] [--receipt-delay-ms 100] [--stat DELIVRD|UNDELIV|...] \
//        [--refuse PREFIX:STATUS,...] [--receipt-pdu deliver_sm|data_sm] \
//        [--receipt-text short_message|message_payload|none] [--no-receipt-tlvs]
//
// Prints one JSON object per line on stdout; the first is {"event":"listening","port":N}.
// Then: bind, submit_sm, deliver_sm_resp, unbind events (see README.md). SIGTERM/SIGINT: close
// every session and the listener, exit 0.
//
// Refusals: a submit_sm to a destination starting with a --refuse prefix is answered with that
// command_status the way npm smpp answers every error: the bare 16-octet header, no body.
//
// short_message bytes: npm smpp decodes submit_sm's short_message into {udh, message} with its
// own rules (and loses the raw bytes), so this server turns that decoding off for submit_sm and
// message_payload and decodes the raw bytes itself (common.js, decodeShortMessage).

const { parseArgs, emit, decodeShortMessage, receiptDate, requireSmpp } = require('./common');

const smpp = requireSmpp();

// message_state values for the receipt's `stat` word (SMPP 3.4, 5.2.28).
const STATES = { DELIVRD: 2, EXPIRED: 3, DELETED: 4, UNDELIV: 5, ACCEPTD: 6, UNKNOWN: 7, REJECTD: 8 };

function usage(msg) {
  process.stderr.write(
    `smsc.js: ${msg}\nusage: node smsc.js --port N --system-id ID --password PW ` +
      '[--host 127.0.0.1] [--receipt-delay-ms 100] [--stat DELIVRD|UNDELIV|EXPIRED|REJECTD|...] ' +
      '[--refuse PREFIX:STATUS,...] [--receipt-pdu deliver_sm|data_sm] ' +
      '[--receipt-text short_message|message_payload|none] [--no-receipt-tlvs]\n',
  );
  process.exit(2);
}

let args;
try {
  args = parseArgs(process.argv.slice(2), ['no-receipt-tlvs']);
} catch (e) {
  usage(e.message);
}
for (const k of Object.keys(args)) {
  const known = ['port', 'host', 'system-id', 'password', 'receipt-delay-ms', 'stat', 'refuse',
    'receipt-pdu', 'receipt-text', 'no-receipt-tlvs'];
  if (!known.includes(k)) {
    usage(`unknown option --${k}`);
  }
}
if (args['system-id'] === undefined || args.password === undefined) {
  usage('--system-id and --password are required');
}
const host = args.host || '127.0.0.1';
const port = Number(args.port || 0);
const receiptDelayMs = Number(args['receipt-delay-ms'] || 0);
const stat = (args.stat || 'DELIVRD').toUpperCase();
if (!(stat in STATES)) usage(`--stat must be one of ${Object.keys(STATES).join(', ')}`);
if (!Number.isInteger(port) || port < 0 || port > 65535) usage('--port must be 0..65535');
if (!Number.isFinite(receiptDelayMs) || receiptDelayMs < 0) usage('--receipt-delay-ms must be >= 0');
// [[prefix, command_status]], first match wins.
const refusals = (args.refuse || '')
  .split(',')
  .filter((r) => r !== '')
  .map((r) => {
    const [prefix, status] = r.split(':');
    const code = Number(status);
    if (!/^\d+$/.test(prefix || '') || !Number.isInteger(code) || code <= 0) {
      usage(`--refuse ${r}: expected DIGITS:STATUS, e.g. 34600000000:0x0B`);
    }
    return [prefix, code];
  });
const receiptPdu = args['receipt-pdu'] || 'deliver_sm';
if (!['deliver_sm', 'data_sm'].includes(receiptPdu)) usage('--receipt-pdu must be deliver_sm or data_sm');
const receiptText = args['receipt-text'] || (receiptPdu === 'data_sm' ? 'message_payload' : 'short_message');
if (!['short_message', 'message_payload', 'none'].includes(receiptText)) {
  usage('--receipt-text must be short_message, message_payload or none');
}
if (receiptPdu === 'data_sm' && receiptText === 'short_message') usage('data_sm has no short_message');
const receiptTlvs = !args['no-receipt-tlvs'];
if (!receiptTlvs && receiptText === 'none') usage('a receipt needs its text or its TLVs');

// Keep the raw bytes: identity decode for submit_sm.short_message (an object of its own in
// smpp's command table, deliver_sm keeps the library filter) and the message_payload TLV.
const rawFilter = { encode: smpp.filters.message.encode, decode: (v) => v };
smpp.commands.submit_sm.params.short_message.filter = rawFilter;
smpp.tlvs.message_payload.filter = rawFilter;

const BIND_KINDS = { bind_transceiver: 'trx', bind_transmitter: 'tx', bind_receiver: 'rx' };
let nextMessageId = 1;
const timers = new Set();

function later(ms, fn) {
  const t = setTimeout(() => {
    timers.delete(t);
    fn();
  }, ms);
  timers.add(t);
}

const server = smpp.createServer((session) => {
  session.socket.setNoDelay(true);
  session.bound = null; // 'trx' | 'tx' | 'rx' once bound

  session.on('error', (e) => {
    process.stderr.write(`smsc.js: session error: ${e.message}\n`);
    session.destroy();
  });

  for (const cmd of Object.keys(BIND_KINDS)) {
    session.on(cmd, (pdu) => {
      const ok =
        session.bound === null &&
        pdu.system_id === args['system-id'] &&
        pdu.password === args.password;
      emit({ event: 'bind', command: cmd, system_id: pdu.system_id, ok });
      if (ok) {
        session.bound = BIND_KINDS[cmd];
        session.send(pdu.response({ system_id: 'npm-smsc' }));
      } else {
        const status = session.bound === null ? smpp.ESME_RINVPASWD : smpp.ESME_RALYBND;
        session.send(pdu.response({ command_status: status }), () => {
          if (session.bound === null) session.close();
        });
      }
    });
  }

  session.on('enquire_link', (pdu) => {
    session.send(pdu.response());
  });

  session.on('unbind', (pdu) => {
    emit({ event: 'unbind' });
    session.bound = null;
    session.send(pdu.response(), () => session.close());
  });

  session.on('submit_sm', (pdu) => {
    if (session.bound !== 'trx' && session.bound !== 'tx') {
      session.send(pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
      return;
    }
    const refusal = refusals.find(([prefix]) => String(pdu.destination_addr).startsWith(prefix));
    const messageId = refusal ? '' : String(nextMessageId++);
    const submitted = new Date();
    let raw = Buffer.isBuffer(pdu.short_message) ? pdu.short_message : Buffer.alloc(0);
    if (raw.length === 0 && Buffer.isBuffer(pdu.message_payload)) raw = pdu.message_payload;
    const { udh, text } = decodeShortMessage(raw, pdu.data_coding || 0, pdu.esm_class || 0);
    // npm smpp writes a response with a non-zero command_status as the header alone.
    session.send(pdu.response(refusal ? { command_status: refusal[1] } : { message_id: messageId }));
    emit({
      event: 'submit_sm',
      at_ms: Date.now(), // when it was answered, for latency measurements
      command_status: refusal ? refusal[1] : 0,
      message_id: messageId,
      source_addr: pdu.source_addr,
      source_addr_ton: pdu.source_addr_ton,
      source_addr_npi: pdu.source_addr_npi,
      destination_addr: pdu.destination_addr,
      dest_addr_ton: pdu.dest_addr_ton,
      dest_addr_npi: pdu.dest_addr_npi,
      esm_class: pdu.esm_class,
      data_coding: pdu.data_coding,
      registered_delivery: pdu.registered_delivery,
      short_message_hex: raw.toString('hex'),
      udh_hex: udh ? udh.toString('hex') : null,
      text,
    });
    if (refusal || (pdu.registered_delivery & 0x03) === 0) return;
    // 0x01 = receipt on success or failure, 0x02 = on failure only, 0x03 = on success only.
    const wanted = pdu.registered_delivery & 0x03;
    const success = stat === 'DELIVRD';
    if ((wanted === 0x02 && success) || (wanted === 0x03 && !success)) return;
    later(receiptDelayMs, () => sendReceipt(session, pdu, messageId, submitted));
  });

  // Anything else that asks for an answer: generic_nack for unknown commands, ESME_RINVCMDID
  // for known ones this SMSC does not implement (query_sm, data_sm, ...).
  const handled = new Set([...Object.keys(BIND_KINDS), 'enquire_link', 'unbind', 'submit_sm']);
  session.on('pdu', (pdu) => {
    if (pdu.isResponse() || handled.has(pdu.command)) return;
    emit({ event: 'unsupported', command: pdu.command, command_id: pdu.command_id });
    if (pdu.command === 'unknown') {
      session.send(pdu.response());
    } else {
      session.send(pdu.response({ command_status: smpp.ESME_RINVCMDID }));
    }
  });
});

function sendReceipt(origin, submit, messageId, submitted) {
  // Receipts go back on the submitting bind if it can receive, else on any receiver bind.
  let target = origin.bound === 'trx' ? origin : null;
  if (!target) target = server.sessions.find((s) => s.bound === 'trx' || s.bound === 'rx');
  if (!target || !target.socket.writable) {
    emit({ event: 'receipt_dropped', message_id: messageId, reason: 'no receiving bind' });
    return;
  }
  const dlvrd = stat === 'DELIVRD' ? '001' : '000';
  const text =
    `id:${messageId} sub:001 dlvrd:${dlvrd} submit date:${receiptDate(submitted)} ` +
    `done date:${receiptDate(new Date())} stat:${stat} err:000 text:`;
  const receipt = {
    source_addr_ton: submit.dest_addr_ton,
    source_addr_npi: submit.dest_addr_npi,
    source_addr: submit.destination_addr,
    dest_addr_ton: submit.source_addr_ton,
    dest_addr_npi: submit.source_addr_npi,
    destination_addr: submit.source_addr,
    esm_class: smpp.ESM_CLASS.MC_DELIVERY_RECEIPT,
    data_coding: 0,
  };
  const body = Buffer.from(text, 'ascii'); // a Buffer goes out as is
  if (receiptText === 'short_message') receipt.short_message = body;
  if (receiptText === 'message_payload') receipt.message_payload = body;
  if (receiptTlvs) {
    receipt.receipted_message_id = messageId;
    receipt.message_state = STATES[stat];
  }
  const sent = target[receiptPdu](receipt, (resp) => {
    emit({ event: `${receiptPdu}_resp`, message_id: messageId, command_status: resp.command_status });
  });
  if (!sent) emit({ event: 'receipt_dropped', message_id: messageId, reason: 'socket not writable' });
}

server.on('error', (e) => {
  process.stderr.write(`smsc.js: server error: ${e.message}\n`);
  process.exit(1);
});

server.listen(port, host, () => {
  emit({ event: 'listening', port: server.address().port });
});

function shutdown() {
  for (const t of timers) clearTimeout(t);
  timers.clear();
  for (const s of [...server.sessions]) s.destroy();
  server.close(() => process.exit(0));
  // A session that will not close must not keep us alive.
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
