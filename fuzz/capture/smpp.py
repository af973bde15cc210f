#!/usr/bin/env python3
"""Captures what an SMSC sends an ESME, for the smpp_pdu / smpp_receipt seed corpora.

    smpp.py HOST:PORT OUT_DIR PREFIX [--password PW]

Binds as a transceiver, submits to a few destinations (the SMSC's rules decide the answers),
answers every deliver_sm / data_sm, sends an enquire_link, a command it will not serve and a
body it cannot decode, then writes every PDU received to OUT_DIR/PREFIX-NN-<command_id>.bin,
the whole stream to OUT_DIR/PREFIX-stream.bin and each receipt text to
OUT_DIR/../smpp_receipt/PREFIX-NN.txt.
"""
import os, socket, struct, sys, time

def pdu(command_id, seq, body=b"", status=0):
    return struct.pack(">IIII", 16 + len(body), command_id, status, seq) + body

def cstr(s):
    return s.encode() + b"\0"

def submit(seq, dest, text, coding=0):
    sm = text.encode("utf-16-be") if coding == 8 else text.encode()
    body = (cstr("") + bytes([5, 0]) + cstr("OTPGATE") + bytes([1, 1]) + cstr(dest)
            + bytes([0, 0, 0]) + cstr("") + cstr("") + bytes([1, 0, coding, 0, len(sm)]) + sm)
    return pdu(0x04, seq, body)

def main():
    host, port = sys.argv[1].rsplit(":", 1)
    out, prefix = sys.argv[2], sys.argv[3]
    password = sys.argv[sys.argv.index("--password") + 1] if "--password" in sys.argv else "secret"
    dests = sys.argv[sys.argv.index("--dest") + 1].split(",") if "--dest" in sys.argv else ["34600000001"]
    s = socket.create_connection((host, int(port)))
    s.settimeout(0.3)
    bind = cstr("otpgate") + cstr(password) + cstr("") + bytes([0x34, 0, 0]) + cstr("")
    closed = [False]
    def send(b):
        try:
            s.sendall(b)
        except OSError:
            closed[0] = True
    send(pdu(0x09, 1, bind))
    seq = 2
    for i, dest in enumerate(dests):
        send(submit(seq, dest, "Your code is 48291%d" % i, 8 if i % 2 else 0))
        seq += 1
    send(pdu(0x15, seq)); seq += 1                       # enquire_link
    send(pdu(0x03, seq, cstr("1") + bytes([1, 1]) + cstr("1"))); seq += 1  # query_sm
    send(pdu(0x04, seq, b"\x01\x02")); seq += 1          # submit_sm with a body cut short
    stream, got, idle_until = b"", [], time.time() + 2.0
    buf = b""
    while time.time() < idle_until:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            break
        if not chunk:
            break
        stream += chunk
        buf += chunk
        idle_until = time.time() + 1.0
        while len(buf) >= 16:
            length, cid, status, pseq = struct.unpack(">IIII", buf[:16])
            if len(buf) < length:
                break
            frame, buf = buf[:length], buf[length:]
            got.append(frame)
            if cid in (0x05, 0x103):                       # deliver_sm / data_sm → resp
                resp_body = b"\0"
                send(pdu(cid | 0x80000000, pseq, resp_body))
    s.close()
    os.makedirs(out, exist_ok=True)
    receipts = os.path.join(out, "..", "smpp_receipt")
    os.makedirs(receipts, exist_ok=True)
    with open(os.path.join(out, prefix + "-stream.bin"), "wb") as f:
        f.write(stream)
    for n, frame in enumerate(got):
        cid = struct.unpack(">I", frame[4:8])[0]
        with open(os.path.join(out, "%s-%02d-%08x.bin" % (prefix, n, cid)), "wb") as f:
            f.write(frame)
        at = frame.find(b"id:")
        if cid in (0x05, 0x103) and at >= 0:
            end = frame.find(b"\0", at)
            with open(os.path.join(receipts, "%s-%02d.txt" % (prefix, n)), "wb") as f:
                f.write(frame[at:] if end < 0 else frame[at:end])
    print(prefix, len(got), "PDUs,", len(stream), "octets")

main()
