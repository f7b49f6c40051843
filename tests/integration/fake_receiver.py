#!/usr/bin/python3
"""fake_receiver.py - a minimal secondary for testing `standby primary`.

It reads a stream record by record (exact reads, as Xen does), saves every
byte it got to --out, and answers on the back channel as asked:

  --listen PATH|tcp accept one connection on a unix socket at PATH, or on TCP
                    127.0.0.1 at a free port (else use stdin/stdout)
  --ready FILE      written once listening: the path or the TCP port (default PATH.ready)
  --xl              write xl's 54-byte banner first; after a plain stream's END
                    do the ready / GO / report handshake (--status N for the report)
  --banner TEXT     write TEXT instead of the banner (to test refusal)
  --acks            write standby's 16-byte ack after each CHECKPOINT_END / END
  --ack-delay MS    wait before each ack
  --colo            COLO back channel: SVM_READY + SVM_RESUMED after each
                    CHECKPOINT_END, SVM_SUSPENDED + a dirty pfn list (--svm-pfns
                    a,b,c) after each CHECKPOINT_STATE(NEW)
  --bad-back KIND   misbehave on the COLO back channel: "order" (SVM_RESUMED where
                    SVM_SUSPENDED belongs) or "pfn" (a dirty pfn far beyond the guest)
  --out FILE        the bytes received
  --log FILE        one line per event (epoch ends, GO received, ...)
"""
import os
import socket
import struct
import sys
import time


def arg(name, default=None):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def main():
    out = open(arg("--out", os.devnull), "wb")
    log = open(arg("--log", os.devnull), "w")
    if arg("--listen"):
        where = arg("--listen")
        if where == "tcp":
            srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            srv.bind(("127.0.0.1", 0))
        else:
            srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            srv.bind(where)
        srv.listen(1)
        with open(arg("--ready", where + ".ready"), "w") as f:
            f.write("%s\n" % (srv.getsockname()[1] if where == "tcp" else where))
        conn, _ = srv.accept()
        rfile = conn.makefile("rb", buffering=0)
        wfd = conn.fileno()
    else:
        rfile = os.fdopen(0, "rb", buffering=0)
        wfd = 1

    def send(b):
        os.write(wfd, b)

    def rd(n):
        buf = b""
        while len(buf) < n:
            chunk = rfile.read(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        out.write(buf)
        out.flush()
        return buf

    def ckpt_state(i):
        send(struct.pack("<IIII", 5, 4, i, 0))

    xl = "--xl" in sys.argv
    colo = "--colo" in sys.argv
    acks = "--acks" in sys.argv
    delay = int(arg("--ack-delay", "0")) / 1000.0
    pfns = [int(x) for x in arg("--svm-pfns", "").split(",") if x]
    if arg("--banner") is not None:
        send(arg("--banner").encode())
    elif xl:
        send(b"xl migration receiver ready, send binary domain data.\n")
    if xl:
        hdr = rd(48)
        if hdr is None:
            log.write("eof before xl header\n")
            return 0
        optlen = struct.unpack_from("<I", hdr, 44)[0]
        cfg = rd(optlen)
        log.write("xl config %s\n" % cfg[4:-1].decode().replace("\n", " "))
    if rd(16) is None:
        return 0
    layer = "libxl"
    epoch = 0
    while True:
        if layer == "libxc-headers":
            if rd(40) is None:
                break
            layer = "libxc"
            continue
        h = rd(8)
        if h is None:
            log.write("eof after epoch %d\n" % (epoch - 1))
            break
        t, n = struct.unpack("<II", h)
        if layer == "epoch-start":
            layer = "libxl" if (colo and t == 5) else "libxc"
        if rd((n + 7) & ~7) is None:
            log.write("eof inside a record\n")
            break
        if layer == "libxc":
            if t in (0, 14):
                layer = "libxl"
            continue
        if t == 1:
            layer = "libxc-headers"
        elif t == 5:
            layer = "libxc"
            log.write("checkpoint-state new\n")
            if colo:
                bad = arg("--bad-back")
                ckpt_state(3 if bad == "order" else 1)
                lst = pfns + ([1 << 40] if bad == "pfn" else [])
                send(struct.pack("<II", 0x0F, 8 * len(lst)) + struct.pack("<%dQ" % len(lst), *lst))
        elif t == 4:
            log.write("epoch %d complete\n" % epoch)
            log.flush()
            if acks:
                time.sleep(delay)
                send(b"STBYACK1" + struct.pack("<Q", epoch))
            if colo:
                ckpt_state(2)
                ckpt_state(3)
            epoch += 1
            layer = "epoch-start"
        elif t == 0:
            log.write("end\n")
            log.flush()
            if acks:
                time.sleep(delay)
                send(b"STBYACK1" + struct.pack("<Q", 0))
            if xl:
                send(b"domain received, ready to unpause\0")
                go = rfile.read(44)
                log.write("go %r\n" % go)
                status = int(arg("--status", "0"))
                send(b"my copy unpause results are as follows\0" + bytes([status]))
                if status:
                    send(b"domain is yours, you are cleared to unpause\0")
            break
    log.flush()
    # drain until the primary closes
    while rfile.read(65536):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
