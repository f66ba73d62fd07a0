#!/usr/bin/env python3
# hostile-tar.py OUT ENTRY... - write a layer tar with one entry per
# argument "TYPE NAME [ARG]" using python's tarfile, which writes what it is
# told (unlike tar(1)): this is how tests make hostile layers.
#   f NAME [CONTENT]  file, 0644 (content "x" by default)
#   s NAME            setuid-root file, 04755, a shell script
#   d NAME            directory, 0755
#   l NAME TARGET     symlink
#   h NAME TARGET     hardlink
#   c NAME [MAJ:MIN]  character device, 0666 (1:3 by default)
#   b NAME [MAJ:MIN]  block device, 0666 (8:0 by default)
import io
import sys
import tarfile

with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    for spec in sys.argv[2:]:
        kind, name, *rest = spec.split(" ")
        ti = tarfile.TarInfo(name)
        data = b""
        if kind in ("f", "s"):
            data = (rest[0] if rest else "x").encode()
            if kind == "s":
                data, ti.mode = b"#!/bin/sh\nid -u\n", 0o4755
            ti.size = len(data)
        elif kind == "d":
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
        elif kind == "l":
            ti.type = tarfile.SYMTYPE
            ti.linkname = rest[0]
        elif kind == "h":
            ti.type = tarfile.LNKTYPE
            ti.linkname = rest[0]
        elif kind in ("c", "b"):
            ti.type = tarfile.CHRTYPE if kind == "c" else tarfile.BLKTYPE
            dev = rest[0] if rest else ("1:3" if kind == "c" else "8:0")
            ti.devmajor, ti.devminor = map(int, dev.split(":"))
            ti.mode = 0o666
        else:
            sys.exit(f"hostile-tar.py: unknown entry type '{kind}'")
        t.addfile(ti, io.BytesIO(data))
