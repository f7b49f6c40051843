#!/usr/bin/env python3
"""recv_walk.py STREAM - print the record boundaries of a Remus/plain stream.

One line per boundary: "<offset> <epochs complete at that offset>", where an
epoch is complete once its libxl CHECKPOINT_END record lies whole before the
offset.  Walks the layers as Xen does: optional xl header + config, libxl
header, libxl records; LIBXC_CONTEXT opens the libxc stream (image and domain
headers, then libxc records); libxc CHECKPOINT hands over to libxl records up
to CHECKPOINT_END, then libxc again.  Independent of standby's parser.
"""
import struct
import sys

XL_MAGIC = b"Xen saved domain, xl format\n \0 \r"


def walk(data):
    off = 0
    out = []
    if data.startswith(XL_MAGIC):
        opt_len = struct.unpack_from("<I", data, 44)[0]
        off = 48 + opt_len
        out.append((off, 0))
    ident = struct.unpack_from(">Q", data, off)[0]
    assert ident == 0x4C6962786C466D74, "not a libxl stream"
    off += 16
    out.append((off, 0))
    layer = "libxl"
    epochs = 0
    while off + 8 <= len(data):
        rtype, rlen = struct.unpack_from("<II", data, off)
        end = off + 8 + ((rlen + 7) & ~7)
        if end > len(data):
            break
        off = end
        rtype &= 0x7FFFFFFF
        if layer == "libxl":
            if rtype == 1:          # LIBXC_CONTEXT: the libxc headers follow
                off += 24 + 16
                layer = "libxc"
            elif rtype == 4:        # CHECKPOINT_END
                epochs += 1
                layer = "libxc"
            elif rtype == 0:        # END
                out.append((off, epochs))
                break
        else:
            if rtype == 0x0E:       # CHECKPOINT
                layer = "libxl"
            elif rtype == 0:        # libxc END: back to libxl
                layer = "libxl"
        out.append((off, epochs))
    return out


def main():
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    for off, ep in walk(data):
        print(off, ep)


if __name__ == "__main__":
    main()
