'use strict';
// Helpers shared by smsc.js, client.js and selftest.js: argument parsing, JSON-line output and
// our own decoding of short_message bytes (independent of the npm `smpp` package's decoder,
// which turns short_message into {udh, message} objects and loses the raw bytes).

// GSM 03.38 default alphabet, basic table: index = septet value (unpacked, one byte per septet).
const GSM_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
// GSM 03.38 extension table (after the 0x1B escape).
const GSM_EXT = {
  0x0a: '\f', 0x14: '^', 0x28: '{', 0x29: '}', 0x2f: '\\', 0x3c: '[', 0x3d: '~', 0x3e: ']',
  0x40: '|', 0x65: '€',
};

/** Parses `--name value` and `--flag` arguments; `flags` lists the ones without a value. */
function parseArgs(argv, flags) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`);
    const name = arg.slice(2);
    if (flags.includes(name)) {
      out[name] = true;
    } else {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      out[name] = argv[++i];
    }
  }
  return out;
}

/** Prints one JSON object as one line on stdout (synchronous on pipes and files under Linux). */
function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

/** GSM 03.38 unpacked (one septet per byte) to a string; escapes go through the extension table. */
function decodeGsm(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] & 0x7f;
    if (b === 0x1b && i + 1 < bytes.length) {
      const e = bytes[++i] & 0x7f;
      s += GSM_EXT[e] !== undefined ? GSM_EXT[e] : ' '; // unknown escape: space (03.38)
    } else {
      s += GSM_BASIC[b];
    }
  }
  return s;
}

/** UCS2 / UTF-16 big-endian to a string (surrogate pairs kept, odd trailing byte dropped). */
function decodeUcs2(bytes) {
  const even = Buffer.from(bytes.subarray(0, bytes.length - (bytes.length % 2)));
  return even.swap16().toString('utf16le');
}

/**
 * Splits raw short_message bytes into {udh, body} (udh = null when esm_class has no UDHI 0x40)
 * and decodes the body by data_coding: 0 and 1 -> GSM 03.38 unpacked (npm smpp itself sends its
 * GSM-encoded "ASCII" with data_coding 1; for letters, digits, space and most punctuation GSM and
 * ASCII agree), 3 -> Latin-1, 8 -> UCS2 big-endian, 0xF0-0xF3 -> GSM, anything else -> text null.
 */
function decodeShortMessage(raw, dataCoding, esmClass) {
  let udh = null;
  let body = raw;
  if ((esmClass & 0x40) && raw.length > 0) {
    const udhl = raw[0];
    udh = raw.subarray(0, Math.min(raw.length, udhl + 1));
    body = raw.subarray(Math.min(raw.length, udhl + 1));
  }
  let text = null;
  const dc = dataCoding & 0xff;
  if (dc === 0 || dc === 1) text = decodeGsm(body);
  else if (dc === 3) text = body.toString('latin1');
  else if (dc === 8) text = decodeUcs2(body);
  else if ((dc & 0xf0) === 0xf0 && !(dc & 0x04)) text = decodeGsm(body);
  return { udh, body, text };
}

/** YYMMDDhhmm in UTC, the date format of delivery receipts. */
function receiptDate(d) {
  const p = (n) => String(n).padStart(2, '0');
  return (
    p(d.getUTCFullYear() % 100) + p(d.getUTCMonth() + 1) + p(d.getUTCDate()) +
    p(d.getUTCHours()) + p(d.getUTCMinutes())
  );
}

/** Loads npm `smpp` from ./node_modules, or exits 1 saying how to install it. */
function requireSmpp() {
  try {
    return require('smpp');
  } catch (e) {
    process.stderr.write(
      `${e.message}\nnpm smpp is not installed: run \`bash tests/run.sh\` ` +
        '(or `npm ci --prefix tests/peers/smpp`) from the workspace root\n',
    );
    process.exit(1);
  }
}

module.exports = { parseArgs, emit, decodeGsm, decodeUcs2, decodeShortMessage, receiptDate, requireSmpp };
