#!/usr/bin/env python3
"""Captures the callbacks the channel fakes (otpgate-fake-*) post, for the channel_callback
seed corpus.

    channels.py TARGET_DIR BIN_DIR

Starts each fake signing with `fuzz-secret` (the harness's secret), sends it one message that
is delivered and one that fails, and writes each callback it posts twice: as `[channel, 0] +
body` (the harness signs it) and as `[channel, 1] + header + NUL + body` with the fake's own
signature header (Telegram: timestamp LF signature).
"""
import http.server, json, os, subprocess, sys, threading, time, urllib.request

SECRET = "fuzz-secret"
posts = []

class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        posts.append((dict(self.headers), body))
        self.send_response(200); self.end_headers()
    def log_message(self, *a):
        pass

def main():
    out, bins = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    cb = "http://127.0.0.1:%d/cb" % sink.server_address[1]
    rules = os.path.join(out, "..", "..", "capture", "channel-rules.toml")
    channels = [
        (0, "whatsapp", lambda d: ("/1/messages", {"messaging_product": "whatsapp", "recipient_type": "individual", "to": d,
            "type": "template", "template": {"name": "otp_code", "language": {"code": "en_US"}, "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "482913"}]},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "482913"}]}]}}),
            ["X-Hub-Signature-256"]),
        (1, "telegram", lambda d: ("/sendVerificationMessage", {"phone_number": "+" + d, "code": "482913", "ttl": 300,
            "callback_url": cb, "payload": "req-1"}), ["X-Request-Timestamp", "X-Request-Signature"]),
        (2, "viber", lambda d: ("/send_message", {"receiver": d, "type": "template", "template": {"name": "otp",
            "parameters": {"code": "482913"}}, "tracking_data": "req-1"}), ["X-Viber-Content-Signature"]),
        (3, "rcs", lambda d: ("/v1/phones/%%2B%s/agentMessages?messageId=req-1-%s&agentId=agent" % (d, d),
            {"contentMessage": {"text": "Your code is 482913"}}), ["X-Goog-Signature"]),
    ]
    for index, name, request, headers in channels:
        posts.clear()
        fake = subprocess.Popen([os.path.join(bins, "otpgate-fake-" + name), "--listen", "127.0.0.1:0",
                                 "--token", SECRET, "--secret", SECRET, "--callback-url", cb, "--rules", rules],
                                stdout=subprocess.PIPE, text=True)
        base = fake.stdout.readline().split("http=")[1].strip()
        for dest in ["34600000001", "4477000001", "34600000002"]:
            path, body = request(dest)
            req = urllib.request.Request(base + path, json.dumps(body).encode(), method="POST",
                headers={"Content-Type": "application/json", "Authorization": "Bearer " + SECRET,
                         "X-Viber-Auth-Token": SECRET})
            try:
                print(name, dest, urllib.request.urlopen(req).read()[:80])
            except Exception as e:
                print(name, dest, e)
        time.sleep(1.0)
        fake.terminate(); fake.wait()
        for n, (got, body) in enumerate(posts):
            lower = {k.lower(): v for k, v in got.items()}
            header = "\n".join(lower.get(h.lower(), "") for h in headers)
            with open(os.path.join(out, "%s-%02d-signed.bin" % (name, n)), "wb") as f:
                f.write(bytes([index, 0]) + body)
            with open(os.path.join(out, "%s-%02d-header.bin" % (name, n)), "wb") as f:
                f.write(bytes([index, 1]) + header.encode() + b"\0" + body)
            if name == "rcs":
                data = json.loads(body)["message"]["data"]
                import base64
                with open(os.path.join(out, "%s-%02d-event.bin" % (name, n)), "wb") as f:
                    f.write(bytes([index, 2]) + base64.b64decode(data))
        print(name, len(posts), "callbacks")

main()
