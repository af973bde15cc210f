#!/usr/bin/env node
// An application's webhook receiver, written from Didit's integration guide and not from the
// engine's code: it verifies every delivery the way a customer's endpoint would and records it.
//
//   node receiver.js --port 0 --log events.jsonl [--secret-file secret.txt] [--answer 503]
//
// - X-Signature-V2: hex HMAC-SHA256(secret, JSON.stringify(sortKeys(shortenFloats(JSON.parse(body)))))
//   where sortKeys sorts object keys recursively and shortenFloats writes integer-valued floats
//   as integers (in JavaScript every number already prints that way: 2.0 is 2);
// - X-Signature-Simple: hex HMAC-SHA256(secret, `${X-Timestamp}:${session_id}:${status}:${webhook_type}`);
// - X-Signature: hex HMAC-SHA256(secret, raw body);
// - X-Timestamp within 300 s of this machine's clock.
// The secret is read from --secret-file on every request (the test writes it once the engine
// returned it). A delivery that verifies is appended to --log as one JSON line and answered
// 200 (or --answer's status, for failure tests); one that does not is answered 401 and logged
// with "verified": false. It prints {"event":"listening","port":N} when ready.
'use strict';
const http = require('http');
const crypto = require('crypto');
const fs = require('fs');

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf('--' + name);
  return i >= 0 ? args[i + 1] : fallback;
};
const port = parseInt(option('port', '0'), 10);
const log = option('log', 'events.jsonl');
const secretFile = option('secret-file', null);
const answer = parseInt(option('answer', '200'), 10);

const sortKeys = (value) => {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    return Object.keys(value).sort().reduce((sorted, key) => {
      sorted[key] = sortKeys(value[key]);
      return sorted;
    }, {});
  }
  return value;
};
// Didit's helper for languages whose floats print as "2.0": JavaScript numbers need nothing.
const shortenFloats = (value) => {
  if (Array.isArray(value)) return value.map(shortenFloats);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shortenFloats(v)]));
  }
  if (typeof value === 'number' && Number.isInteger(value)) return Math.trunc(value);
  return value;
};
const hmac = (secret, data) => crypto.createHmac('sha256', secret).update(data).digest('hex');
const same = (a, b) => typeof a === 'string' && a.length === b.length &&
  crypto.timingSafeEqual(Buffer.from(a), Buffer.from(b));

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const raw = Buffer.concat(chunks);
    const secret = secretFile && fs.existsSync(secretFile) ? fs.readFileSync(secretFile, 'utf8').trim() : '';
    let body = null;
    try { body = JSON.parse(raw.toString('utf8')); } catch (e) { /* recorded as unverified */ }
    const ts = req.headers['x-timestamp'];
    const checks = { v2: false, simple: false, raw: false, fresh: false };
    if (body && secret) {
      checks.v2 = same(req.headers['x-signature-v2'], hmac(secret, JSON.stringify(sortKeys(shortenFloats(body)))));
      checks.simple = same(req.headers['x-signature-simple'],
        hmac(secret, `${ts}:${body.session_id}:${body.status}:${body.webhook_type}`));
      checks.raw = same(req.headers['x-signature'], hmac(secret, raw));
      checks.fresh = Math.abs(Date.now() / 1000 - parseInt(ts, 10)) <= 300;
    }
    const verified = checks.v2 && checks.simple && checks.raw && checks.fresh;
    const record = { verified, checks, path: req.url, received_at: Date.now(), body };
    fs.appendFileSync(log, JSON.stringify(record) + '\n');
    res.writeHead(verified ? answer : 401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ verified }));
  });
});
server.listen(port, '127.0.0.1', () => {
  console.log(JSON.stringify({ event: 'listening', port: server.address().port }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
