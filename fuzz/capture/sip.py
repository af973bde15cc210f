#!/usr/bin/env python3
"""Captures what a SIP callee sends the caller, for the sip_message / sip_sdp / callee_rtp
seed corpora.

    sip.py HOST:PORT CORPUS_DIR PREFIX [--ack] [--prack]

Sends one INVITE with an SDP offer over UDP, ACKs a 2xx (and PRACKs a reliable 18x with
--prack), answers a BYE, and writes every SIP datagram received to
CORPUS/sip_message/PREFIX-NN.sip, each SDP body to CORPUS/sip_sdp/PREFIX-NN.sdp and RTP
datagrams received (the callee's own, with --nat-media) to CORPUS/callee_rtp/PREFIX.rtp as
length-prefixed datagrams (the callee_rtp input form).
"""
import os, random, re, socket, struct, sys, time

def main():
    host, port = sys.argv[1].rsplit(":", 1)
    corpus, prefix = sys.argv[2], sys.argv[3]
    peer = (host, int(port))
    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); sip.bind(("127.0.0.1", 0))
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); rtp.bind(("127.0.0.1", 0))
    sip.settimeout(0.1); rtp.settimeout(0.01)
    me, rtp_port = sip.getsockname(), rtp.getsockname()[1]
    call_id = "%x@fuzz" % random.getrandbits(48)
    sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=otpgate\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           "m=audio %d RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=ptime:20\r\na=sendrecv\r\n" % rtp_port)
    def request(method, cseq, extra="", body="", to_tag=""):
        to = "<sip:15550100@%s:%s>%s" % (host, port, ";tag=" + to_tag if to_tag else "")
        msg = ("%s sip:15550100@%s:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK%x;rport\r\n"
               "Max-Forwards: 70\r\nFrom: <sip:otpgate@127.0.0.1>;tag=caller1\r\nTo: %s\r\n"
               "Call-ID: %s\r\nCSeq: %d %s\r\nContact: <sip:otpgate@%s:%d>\r\nSupported: 100rel\r\n%s"
               "Content-Length: %d\r\n\r\n%s" % (method, host, port, me[0], me[1], random.getrandbits(40), to,
                                                 call_id, cseq, method.split()[0], me[0], me[1], extra, len(body), body))
        sip.sendto(msg.encode(), peer)
    request("INVITE", 1, "Content-Type: application/sdp\r\n", sdp)
    got, rtp_got, until = [], [], time.time() + 2.5
    while time.time() < until:
        try:
            data, _ = sip.recvfrom(65536)
        except socket.timeout:
            data = None
        if data:
            got.append(data)
            text = data.decode("utf-8", "replace")
            first = text.split("\r\n", 1)[0]
            tag = (re.search(r"^To:.*;tag=([^;\r\n]+)", text, re.M | re.I) or [None, ""])[1]
            if first.startswith("SIP/2.0 2") and "INVITE" in text.split("CSeq:", 1)[-1].split("\r\n", 1)[0]:
                request("ACK", 1, to_tag=tag)
                until = min(until, time.time() + 1.0)
            elif first.startswith("SIP/2.0 18") and re.search(r"^RSeq:\s*(\d+)", text, re.M | re.I):
                rseq = re.search(r"^RSeq:\s*(\d+)", text, re.M | re.I)[1]
                request("PRACK", 2, "RAck: %s 1 INVITE\r\n" % rseq, to_tag=tag)
            elif first.startswith("BYE "):
                via = re.search(r"^(Via:.*)$", text, re.M | re.I)[1]
                hdrs = [l for l in text.split("\r\n") if re.match(r"(From|To|Call-ID|CSeq):", l, re.I)]
                sip.sendto(("SIP/2.0 200 OK\r\n%s\r\n%s\r\nContent-Length: 0\r\n\r\n" % (via, "\r\n".join(hdrs))).encode(), peer)
            elif first.startswith("SIP/2.0 4") or first.startswith("SIP/2.0 6"):
                request("ACK", 1, to_tag=tag)
        try:
            packet, _ = rtp.recvfrom(2048)
            if len(rtp_got) < 20:
                rtp_got.append(packet)
        except socket.timeout:
            pass
    for d in ("sip_message", "sip_sdp", "callee_rtp"):
        os.makedirs(os.path.join(corpus, d), exist_ok=True)
    for n, data in enumerate(got):
        with open(os.path.join(corpus, "sip_message", "%s-%02d.sip" % (prefix, n)), "wb") as f:
            f.write(data)
        body = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
        if body.strip():
            with open(os.path.join(corpus, "sip_sdp", "%s-%02d.sdp" % (prefix, n)), "wb") as f:
                f.write(body)
    if rtp_got:
        with open(os.path.join(corpus, "callee_rtp", prefix + ".rtp"), "wb") as f:
            for p in rtp_got:
                f.write(struct.pack(">H", len(p)) + p)
    print(prefix, len(got), "SIP messages,", len(rtp_got), "RTP datagrams")

main()
