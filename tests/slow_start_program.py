"""A stand-in for a bank service under the supervisor: slow to start, honours HIVESIM_SPARE.

``python tests/slow_start_program.py PORT [START_SECONDS]``: sleeps START_SECONDS (1.0: the
service's imports), prints ``ready <pid>``, then, as ``loadtests.bank.api.serve`` does, a spare
(``HIVESIM_SPARE`` set) waits for a ``go`` line on stdin and exits 0 if stdin closes first; then
it listens on 127.0.0.1:PORT (or, as the bank's services do, serves on the socket its
supervisor holds: fd ``HIVESIM_LISTEN_FD``), prints ``serving <pid>`` and answers each connection
with its PID.
"""

import os
import socket
import sys
import time

port = int(sys.argv[1])
time.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 1.0)
print(f"ready {os.getpid()}", flush=True)
if os.environ.get("HIVESIM_SPARE") and sys.stdin.readline().strip() != "go":
    sys.exit(0)
if os.environ.get("HIVESIM_LISTEN_FD"):
    sock = socket.socket(fileno=int(os.environ["HIVESIM_LISTEN_FD"]))
else:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(64)
print(f"serving {os.getpid()}", flush=True)
while True:
    conn, _ = sock.accept()
    try:
        conn.sendall(f"{os.getpid()}\n".encode())
    except OSError:
        pass
    conn.close()
