#!/usr/bin/env python3
"""Conversion simulation: how many verifications complete with SMS only, SMS + WhatsApp, and
full fallback (SMS + WhatsApp + Telegram), when carriers misbehave the way they do in the field.

It runs the real otpgate binary against the workspace's SMSC simulator and the WhatsApp and
Telegram fake platforms, with these fault profiles (numbers are spread evenly over ten blocks
by their last-but-three digit, and the fakes' rules are set by prefix):

  * SMS silently drops 40 % of messages: the SMSC accepts them and never sends a receipt
    (blocks 0-3); the rest get a DELIVRD receipt.
  * WhatsApp: 20 % of the numbers are not WhatsApp users (error 131026), chosen by another
    digit than the SMS blocks, so independently of them; the others receive the template and
    the platform reports `delivered`.
  * Telegram (standing in for the last-resort channel until voice lands): always delivers.

A simulated user completes the verification when a message actually reached them (the SMSC
delivered it, or the platform accepted it for a user it has), reads the code from where it
arrived and checks it; completion is the share of verifications that end Approved. The
product page illustrates 58 % / 79 % / 93 %; this measures the equivalent on these profiles.

    python3 benches/conversion.py             # 300 verifications per scenario, ~30 s
    N=1000 python3 benches/conversion.py

Binaries come from BIN_DIR (default target/release; built if missing).
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("BIN_DIR", os.path.join(ROOT, "target", "release"))
N = int(os.environ.get("N", "300"))
WA_TOKEN, WA_SECRET, TG_TOKEN = "wa-token", "wa-secret", "tg-token"
DROPPED_SMS_BLOCKS = range(0, 4)  # 40 %
NO_WHATSAPP_DIGITS = range(0, 2)  # 20 %, by the digit after the block: independent of SMS


def numbers():
    """US numbers +1 415 2Bd xxxx: B (0-9) decides the SMS profile, d the WhatsApp one."""
    for i in range(N):
        yield f"+14152{i % 10}{(i // 10) % 10}{i // 100:04d}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def start(args, ready_prefix, tmp, name):
    log = open(os.path.join(tmp, name + ".log"), "w")
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
    seen = []
    while True:
        line = p.stdout.readline()
        if not line:
            raise SystemExit(f"{name} exited; see {log.name}")
        seen.append(line.strip())
        if line.startswith(ready_prefix):
            return p, line.strip(), seen


def field(line, name):
    return next(w.split("=", 1)[1] for w in line.split() if w.startswith(name + "="))


def scenario(name, channels, tmp, procs):
    """Starts the SMSC, the fakes `channels` needs and the engine; every process goes in
    `procs` as soon as it runs, so the caller stops them whatever happens."""
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    carriers = ""
    rules = os.path.join(tmp, f"{name}-sms.toml")
    with open(rules, "w") as f:
        for b in DROPPED_SMS_BLOCKS:
            f.write(f'[[rules]]\npattern = "14152{b}"\naction = "accept"\n')
    p, line = start([f"{BIN}/otpgate-smsc-sim", "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0",
                     "--rules", rules], "smsc-sim", tmp, f"{name}-smsc")[:2]
    procs.append(p)
    smsc, smsc_control = field(line, "smpp"), field(line, "control")
    carriers += (f'[[carriers]]\nname = "sms"\nprotocol = "smpp"\naddress = "{smsc}"\nsystem_id = "otpgate"\n'
                 f'password = "secret"\nmax_tps = 0\nwindow = 64\nfee_usd = {{ default = 0.0079 }}\n')
    wa = tg = None
    if "whatsapp" in channels:
        wa_rules = os.path.join(tmp, f"{name}-wa.toml")
        with open(wa_rules, "w") as f:
            for b in range(10):
                for d in NO_WHATSAPP_DIGITS:
                    f.write(f'[[rules]]\nprefix = "14152{b}{d}"\naction = "refuse"\ncode = 131026\n')
        p, line = start([f"{BIN}/otpgate-fake-whatsapp", "--listen", "127.0.0.1:0", "--access-token", WA_TOKEN,
                         "--app-secret", WA_SECRET, "--webhook-url", f"{public}/v3/channels/wa/webhook/",
                         "--rules", wa_rules], "fake-whatsapp", tmp, f"{name}-wa")[:2]
        procs.append(p)
        wa = field(line, "http")
        carriers += (f'[[carriers]]\nname = "wa"\nprotocol = "whatsapp"\nbase_url = "{wa}"\nphone_number_id = "1"\n'
                     f'access_token = "{WA_TOKEN}"\napp_secret = "{WA_SECRET}"\n')
    if "telegram" in channels:
        p, line = start([f"{BIN}/otpgate-fake-telegram", "--listen", "127.0.0.1:0", "--token", TG_TOKEN],
                        "fake-telegram", tmp, f"{name}-tg")[:2]
        procs.append(p)
        tg = field(line, "http")
        carriers += f'[[carriers]]\nname = "tg"\nprotocol = "telegram"\nbase_url = "{tg}"\ntoken = "{TG_TOKEN}"\n'
    config = os.path.join(tmp, f"{name}.toml")
    with open(config, "w") as f:
        f.write(f'[server]\nlisten = "127.0.0.1:{port}"\npublic_url = "{public}"\n'
                f'[store]\nurl = "sqlite://{tmp}/{name}/otpgate.db"\n'
                f'[verification]\nfallback_after_seconds = 1\n'
                f'[routing]\n"*" = ["sms", "whatsapp", "telegram"]\n{carriers}')
    p, _, seen = start([f"{BIN}/otpgate", "serve", "--config", config], "otpgate listening", tmp, f"{name}-otpgate")
    procs.append(p)
    # First start prints the generated key before the listening line.
    key = next(l.split("stored hashed): ")[1] for l in seen if "stored hashed): " in l)
    return public, key, smsc_control, wa, tg


def run(name, channels, tmp):
    """Runs N verifications with the given carriers; returns the completion rate."""
    procs = []
    try:
        public, key, smsc_control, wa, tg = scenario(name, channels, tmp, procs)
        headers = {"x-api-key": key}
        phones = list(numbers())
        for phone in phones:
            status, body = http("POST", f"{public}/v3/phone/send/", {"phone_number": phone}, headers)
            assert status == 200, (status, body)
        time.sleep(2.5)  # fallbacks fire after fallback_after_seconds = 1
        received = {}
        for m in http("GET", f"{smsc_control}/messages")[1]:
            if m["action"] == "deliver":
                received["+" + m["destination_addr"]] = m["text"].rsplit(" ", 1)[-1]
        if wa:
            for m in http("GET", f"{wa}/_control/messages")[1]:
                to = m["to"] if m["to"].startswith("+") else "+" + m["to"]
                if int(to[7]) not in NO_WHATSAPP_DIGITS:
                    received.setdefault(to, m["body_code"])
        if tg:
            for m in http("GET", f"{tg}/_control/messages")[1]:
                received.setdefault(m["phone_number"] if m["phone_number"].startswith("+") else "+" + m["phone_number"], m["code"])
        approved = 0
        for phone in phones:
            code = received.get(phone)
            if code is None:
                continue
            status, body = http("POST", f"{public}/v3/phone/check/", {"phone_number": phone, "code": code}, headers)
            approved += status == 200 and body["status"] == "Approved"
        return approved / len(phones)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()


def main():
    needed = ["otpgate", "otpgate-smsc-sim", "otpgate-fake-whatsapp", "otpgate-fake-telegram"]
    if not all(os.path.exists(os.path.join(BIN, b)) for b in needed):
        subprocess.run(["cargo", "build", "--release", "--locked", "--workspace", "--bins"], cwd=ROOT, check=True)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, channels, page in [("sms-only", ["sms"], 58), ("sms+whatsapp", ["sms", "whatsapp"], 79),
                                     ("full-fallback", ["sms", "whatsapp", "telegram"], 93)]:
            rate = run(name, channels, tmp)
            results[name] = rate
            print(f"{name:<14} completion {rate * 100:5.1f} %   (product page illustration: {page} %)", flush=True)
    if "--json" in sys.argv:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
