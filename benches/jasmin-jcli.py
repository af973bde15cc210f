"""Configures a running jasmind (Jasmin SMS gateway 0.11) through jCli, its telnet console:
one SMPP client connector `sim` to the SMSC simulator (no throughput limit), a group and user
`bench`/`bench`, and a default MT route to the connector; then starts the connector.

Usage: python3 jasmin-jcli.py JCLI_PORT SMSC_HOST SMSC_PORT
Prints jCli's answers; exits 1 if the connector does not reach BOUND_TRX in 15 s.
(Hand-written over a socket: telnetlib is deprecated and gone in Python 3.13.)
"""
import socket
import sys
import time

port, host, smsc_port = int(sys.argv[1]), sys.argv[2], sys.argv[3]
sock = socket.create_connection(("127.0.0.1", port))
sock.settimeout(0.5)


def read_prompt(timeout=10.0):
    """Reads until jCli's prompt (`jcli : `) or a sub-prompt (`> `)."""
    buf = b""
    end = time.time() + timeout
    while time.time() < end:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            break
        buf += chunk
        tail = buf.rstrip()
        if tail.endswith(b"jcli :") or tail.endswith(b">"):
            break
    return buf.decode(errors="replace")


def run(command):
    sock.sendall(command.encode() + b"\r\n")
    answer = read_prompt().strip()
    print(f">> {command}\n{answer}")
    return answer


read_prompt()
for command in [
    "smppccm -a", "cid sim", f"host {host}", f"port {smsc_port}", "username otpgate",
    "password secret", "submit_throughput 0", "ok",
    "group -a", "gid bench", "ok",
    "user -a", "username bench", "password bench", "gid bench", "uid bench", "ok",
    "mtrouter -a", "type DefaultRoute", "connector smppc(sim)", "rate 0.00", "ok",
    "smppccm -1 sim",
]:
    run(command)
for _ in range(30):
    if "BOUND_TRX" in run("smppccm --list"):
        break
    time.sleep(0.5)
else:
    sys.exit("jasmin: the SMPP connector did not bind")
sock.sendall(b"quit\r\n")
