#!/usr/bin/env node
// Drives Debian's headless chromium through otpgate's hosted page, as a person would, and
// prints one JSON line per flow. Used by tests/hosted_browser.rs; run alone with a plan file:
//
//   node e2e.js plan.json
//
// plan: {"smsc": control URL of otpgate-smsc-sim, "screenshots": dir, "flows": [{"name",
// "url", "width", "height", "locale", "country", "national", "destination", "keyboard",
// "resend", "fallback"}]}. The code is read from the SMSC simulator's record of what it was
// sent (GET /messages?destination=), as the person would read it from the SMS.
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const plan = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function smsTo(destination, count) {
  for (let i = 0; i < 200; i++) {
    const res = await fetch(`${plan.smsc}/messages?destination=${destination}`);
    const records = await res.json();
    if (records.length >= count) return records[records.length - 1];
    await sleep(100);
  }
  throw new Error(`no SMS #${count} to ${destination}`);
}

function codeOf(sms) {
  // The WebOTP line "@host #code" ends a hosted session's SMS.
  const m = /\n@([^\s]+) #(\d{4,10})$/.exec(sms.text || '');
  if (!m) throw new Error(`no WebOTP line in ${JSON.stringify(sms.text)}`);
  return { host: m[1], code: m[2] };
}

async function focused(page) {
  return page.evaluate(() => document.activeElement && document.activeElement.id);
}

/// Presses Tab until the element with `id` has focus (keyboard only).
async function tabTo(page, id) {
  for (let i = 0; i < 12; i++) {
    if ((await focused(page)) === id) return;
    await page.keyboard.press('Tab');
  }
  throw new Error(`Tab never reached #${id} (at #${await focused(page)})`);
}

async function run(browser, flow) {
  const context = await browser.newContext({
    viewport: { width: flow.width, height: flow.height },
    locale: flow.locale,
    deviceScaleFactor: 1,
  });
  const page = await context.newPage();
  const shots = [];
  let step = 0;
  const shot = async (label) => {
    step += 1;
    const file = path.join(plan.screenshots, `${flow.name}-${step}-${label}.png`);
    await page.screenshot({ path: file, fullPage: true });
    shots.push(path.basename(file));
  };
  const result = { name: flow.name, shots };
  const response = await page.goto(flow.url);
  result.csp = response.headers()['content-security-policy'];
  result.dir = await page.evaluate(() => document.documentElement.dir);
  result.lang = await page.evaluate(() => document.documentElement.lang);
  result.h1 = await page.textContent('h1');
  await shot('number');

  if (flow.keyboard) {
    await tabTo(page, 'country');
    await page.keyboard.type(flow.countryName);
    result.countryByKeyboard = await page.inputValue('#country');
    await tabTo(page, 'national');
    await page.keyboard.type(flow.national, { delay: 20 });
  } else {
    await page.selectOption('#country', flow.country);
    await page.fill('#national', flow.national);
  }
  result.numberCheck = await page.textContent('#phone-check');
  await shot('number-typed');
  if (flow.keyboard) await page.keyboard.press('Enter');
  else await page.click('#number-form button[type=submit]');
  await page.waitForSelector('#code');
  result.sent = await page.textContent('#sent');
  result.codeInput = await page.evaluate(() => {
    const el = document.getElementById('code');
    return { autocomplete: el.getAttribute('autocomplete'), inputmode: el.getAttribute('inputmode') };
  });
  result.countdown = await page.isVisible('#countdown') ? await page.textContent('#countdown') : null;
  await shot('code-sent');

  let sms = await smsTo(flow.destination, 1);
  if (flow.resend) {
    await page.waitForSelector('#resend:not([disabled])', { timeout: 15000 });
    await page.click('#resend');
    await page.waitForSelector('#live:not(:empty)');
    result.resent = await page.textContent('#live');
    sms = await smsTo(flow.destination, 2);
    await shot('resent');
  }
  if (flow.fallback) {
    await page.waitForSelector('#fallback:not([hidden])', { timeout: 20000 });
    result.fallback = await page.textContent('#fallback');
    await shot('fallback');
  }
  const { host, code } = codeOf(sms);
  result.webotpHost = host;
  if (flow.keyboard) {
    if ((await focused(page)) !== 'code') await tabTo(page, 'code');
    await page.keyboard.type(code, { delay: 20 });
    await shot('code-typed');
    await page.keyboard.press('Enter');
  } else {
    await page.fill('#code', code);
    await shot('code-typed');
    await page.click('#code-form button[type=submit]');
  }
  await page.waitForSelector('.result');
  result.status = await page.getAttribute('.result', 'data-status');
  result.message = await page.textContent('#result-message');
  result.scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  await shot('result');
  await context.close();
  return result;
}

(async () => {
  // launch() runs the browser on a fresh temporary profile of its own (Playwright refuses a
  // --user-data-dir argument here: that is launchPersistentContext's job).
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  let failed = false;
  for (const flow of plan.flows) {
    try {
      console.log(JSON.stringify(await run(browser, flow)));
    } catch (e) {
      failed = true;
      console.log(JSON.stringify({ name: flow.name, error: String(e && e.stack || e) }));
    }
  }
  await browser.close();
  process.exit(failed ? 1 : 0);
})();
