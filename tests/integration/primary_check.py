#!/usr/bin/python3
"""primary_check.py - an independent reader of the streams `standby primary` writes.

Written from ../shared/spec/xen-streams.md and include/standby/digest.h, sharing
no code with standby.  It walks the xl header (if any), the libxl stream and
the nested libxc stream, checks framing (lengths, padding, PAGE_DATA shape,
batch size, pfn bounds), replays the pages of every complete epoch into a flat
image and hashes it, hashes the state records, and prints:

  complete N                       epochs whose CHECKPOINT_END (plain: END) is whole
  end boundary|mid-record ...      where the bytes stop
  last-record LAYER NAME epoch E   the last whole record
  epoch E memory HEX state HEX     per complete epoch
  sequence E NAME NAME ...         record names of epoch E (PAGE_DATA runs as PAGE_DATA*N)
  pages E N                        PAGE_DATA entries of epoch E

usage: primary_check.py STREAM --memory BYTES [--expect FILE] [--back FILE]
  --expect FILE   compare with the expectations file: every complete epoch must
                  be listed with equal digests, and nothing else; exit 1 if not.
"""
import hashlib
import struct
import sys

XL_MAGIC = b"Xen saved domain, xl format\n \0 \r"
LIBXL = {0: "END", 1: "LIBXC_CONTEXT", 2: "EMULATOR_XENSTORE_DATA", 3: "EMULATOR_CONTEXT",
         4: "CHECKPOINT_END", 5: "CHECKPOINT_STATE"}
LIBXC = {0: "END", 1: "PAGE_DATA", 2: "X86_PV_INFO", 3: "X86_PV_P2M_FRAMES", 4: "X86_PV_VCPU_BASIC",
         5: "X86_PV_VCPU_EXTENDED", 6: "X86_PV_VCPU_XSAVE", 7: "SHARED_INFO", 8: "X86_TSC_INFO",
         9: "HVM_CONTEXT", 10: "HVM_PARAMS", 12: "X86_PV_VCPU_MSRS", 14: "CHECKPOINT",
         16: "STATIC_DATA_END", 17: "X86_CPUID_POLICY", 18: "X86_MSR_POLICY"}
STATE_LIBXC = {4, 5, 6, 7, 8, 9, 10, 12}
STATE_LIBXL = {2, 3}
LAYER_NUM = {"libxl": 2, "libxc": 3}
DATA_TYPES = {0, 1, 2, 3, 4, 9, 10, 11, 12}
NODATA_TYPES = {13, 14, 15}


class Bad(Exception):
    pass


def name(layer, t):
    table = LIBXL if layer == "libxl" else LIBXC
    return table.get(t, "type%#x" % t)


def main(argv):
    path = argv[1]
    memory = int(argv[argv.index("--memory") + 1])
    expect = argv[argv.index("--expect") + 1] if "--expect" in argv else None
    data = open(path, "rb").read()
    pages = memory // 4096
    image = bytearray(memory)
    out = []
    off = 0
    if data[:32] == XL_MAGIC:
        if len(data) < 48:
            raise Bad("truncated xl header")
        order, mand, opt, optlen = struct.unpack_from("<IIII", data, 32)
        if order != 0x01020304 or mand != 3:
            raise Bad("xl header fields %x %x" % (order, mand))
        clen = struct.unpack_from("<I", data, 48)[0]
        if clen + 4 != optlen or data[48 + 4 + clen - 1] != 0:
            raise Bad("xl config length")
        off = 48 + optlen
    if len(data) < off + 16:
        raise Bad("truncated libxl header")
    ident, ver, opts = struct.unpack_from(">QII", data, off)
    if ident != 0x4c6962786c466d74 or ver != 2 or opts != 0:
        raise Bad("libxl header %x %d %x" % (ident, ver, opts))
    off += 16
    layer = "libxl"
    epoch = 0
    complete = 0
    seq = {0: []}
    npages = {0: 0}
    pending = {}
    state = hashlib.sha256()
    digests = []
    end = "boundary"
    last = None
    done = False
    dtype = 0
    while off < len(data) and not done:
        if layer == "libxc-headers":
            if len(data) - off < 40:
                end = "mid-record libxc headers offset %d" % off
                break
            marker, ident, ver, opts = struct.unpack_from(">QIIH", data, off)
            dtype, shift = struct.unpack_from("<IH", data, off + 24)
            if marker != 2**64 - 1 or ident != 0x58454E46 or ver != 3 or shift != 12:
                raise Bad("libxc headers")
            off += 40
            layer = "libxc"
            continue
        if len(data) - off < 8:
            end = "mid-record header offset %d have %d of 8" % (off, len(data) - off)
            break
        t, length = struct.unpack_from("<II", data, off)
        if layer == "epoch-start":
            # COLO: CHECKPOINT_STATE(NEW) opens an epoch of an HVM stream
            layer = "libxl" if (t == 5 and dtype == 2) else "libxc"
        padded = (length + 7) & ~7
        if len(data) - off < 8 + padded:
            end = "mid-record %s %s epoch %d offset %d have %d of %d" % (
                layer, name(layer, t), epoch, off, len(data) - off, 8 + padded)
            break
        body = data[off + 8:off + 8 + length]
        if any(data[off + 8 + length:off + 8 + padded]):
            raise Bad("non-zero padding at %d" % off)
        nm = name(layer, t)
        if not seq[epoch] or seq[epoch][-1][0] != nm:
            seq[epoch].append([nm, 1])
        else:
            seq[epoch][-1][1] += 1
        last = "%s %s epoch %d" % (layer, nm, epoch)
        if (layer == "libxc" and t in STATE_LIBXC) or (layer == "libxl" and t in STATE_LIBXL):
            state.update(bytes([LAYER_NUM[layer]]) + struct.pack("<II", t, length) + body)
        commit = False
        if layer == "libxl":
            if t == 1:
                layer = "libxc-headers"
            elif t == 4:
                commit = True
                layer = "epoch-start"
            elif t == 0:
                commit = True
                done = True
            elif t in (2, 3):
                emu, idx = struct.unpack_from("<II", body, 0)
                if emu != 2 or idx != 0:
                    raise Bad("emulator sub-header")
            elif t == 5:
                if length != 4 or struct.unpack_from("<I", body)[0] != 0 or epoch == 0:
                    raise Bad("CHECKPOINT_STATE")
                layer = "libxc"
            else:
                raise Bad("unknown libxl record %#x at %d" % (t, off))
        else:
            if t in (0, 14):
                layer = "libxl"
            elif t == 1:
                count = struct.unpack_from("<I", body)[0]
                if not 1 <= count <= 1024:
                    raise Bad("PAGE_DATA count %d" % count)
                ents = struct.unpack_from("<%dQ" % count, body, 8)
                pos = 8 + 8 * count
                for e in ents:
                    pfn, typ = e & ((1 << 52) - 1), e >> 60
                    if (e >> 52) & 0xff or pfn >= pages or typ not in DATA_TYPES:
                        raise Bad("PAGE_DATA entry %#x" % e)
                    pending[pfn] = body[pos:pos + 4096]
                    pos += 4096
                if pos != length:
                    raise Bad("PAGE_DATA length %d, content %d" % (length, pos))
                npages[epoch] += count
            elif t not in LIBXC:
                raise Bad("unknown libxc record %#x at %d" % (t, off))
        off += 8 + padded
        if commit:
            for pfn, page in pending.items():
                image[pfn * 4096:(pfn + 1) * 4096] = page
            pending = {}
            digests.append((epoch, hashlib.sha256(image).hexdigest(), state.hexdigest()))
            state = hashlib.sha256()
            complete += 1
            if not done:
                epoch += 1
                seq[epoch] = []
                npages[epoch] = 0
    if off < len(data) and done:
        raise Bad("%d bytes after END" % (len(data) - off))
    out.append("complete %d" % complete)
    out.append("end " + end)
    out.append("last-record %s" % last)
    out.append("bytes %d" % len(data))
    for e, m, s in digests:
        out.append("epoch %d memory %s state %s" % (e, m, s))
    for e in sorted(seq):
        out.append("sequence %d %s" % (e, " ".join(n if c == 1 else "%s*%d" % (n, c) for n, c in seq[e])))
        out.append("pages %d %d" % (e, npages[e]))
    print("\n".join(out))
    if expect:
        lines = [l.split() for l in open(expect) if l.strip() and not l.startswith("#")]
        got = [(int(l[1]), l[3], l[5]) for l in lines]
        if got != digests:
            print("expectations differ:\n file: %s\n recomputed: %s" % (got, digests), file=sys.stderr)
            return 1
        print("expect ok %d" % len(got))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Bad as e:
        print("malformed: %s" % e, file=sys.stderr)
        sys.exit(3)
