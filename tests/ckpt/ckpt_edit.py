#!/usr/bin/env python3
"""ckpt_edit.py FILE DATASET INDEX VALUE: sets one element of an llmpi
checkpoint dataset (float32 tensors take 'nan', 'inf', '1.5'; uint64 state
takes an integer) and rewrites its crc32c attribute to match, so the file is
consistent except for the value: what a diverged run or a damaged writer
would leave. Test helper; needs only libhdf5 (through ctypes), not h5py."""
import ctypes
import ctypes.util
import struct
import sys


def crc32c(data: bytes) -> int:
    table = []
    for b in range(256):
        c = b
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        table.append(c)
    c = 0xFFFFFFFF
    for byte in data:
        c = (c >> 8) ^ table[(c ^ byte) & 0xFF]
    return c ^ 0xFFFFFFFF


def load_hdf5():
    for name in ("hdf5_openmpi", "hdf5_serial", "hdf5"):
        path = ctypes.util.find_library(name)
        if path:
            return ctypes.CDLL(path)
    sys.exit("ckpt_edit.py: libhdf5 not found")


def main():
    path, dset, index, value = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    h5 = load_hdf5()
    hid = ctypes.c_int64
    for fn in ("H5Fopen", "H5Dopen2", "H5Dget_type", "H5Dget_space", "H5Aopen", "H5Acreate2", "H5Screate"):
        getattr(h5, fn).restype = hid
    h5.H5Sget_simple_extent_npoints.restype = ctypes.c_int64
    h5.H5Tget_class.restype = ctypes.c_int
    h5.H5open()
    native_float = hid.in_dll(h5, "H5T_NATIVE_FLOAT_g")
    native_u64 = hid.in_dll(h5, "H5T_NATIVE_ULLONG_g")
    f = h5.H5Fopen(path.encode(), 1, hid(0))  # H5F_ACC_RDWR, H5P_DEFAULT
    if f < 0:
        sys.exit("ckpt_edit.py: cannot open " + path)
    d = h5.H5Dopen2(hid(f), dset.encode(), hid(0))
    if d < 0:
        sys.exit("ckpt_edit.py: no dataset " + dset)
    t = h5.H5Dget_type(hid(d))
    is_float = h5.H5Tget_class(hid(t)) == 1  # H5T_FLOAT
    sp = h5.H5Dget_space(hid(d))
    n = h5.H5Sget_simple_extent_npoints(hid(sp))
    if is_float:
        buf = (ctypes.c_float * n)()
        mtype, fmt = native_float, "<%df" % n
        val = float(value)
    else:
        buf = (ctypes.c_uint64 * n)()
        mtype, fmt = native_u64, "<%dQ" % n
        val = int(value)
    assert h5.H5Dread(hid(d), mtype, hid(0), hid(0), hid(0), buf) >= 0
    buf[index] = val
    assert h5.H5Dwrite(hid(d), mtype, hid(0), hid(0), hid(0), buf) >= 0
    crc = ctypes.c_uint64(crc32c(struct.pack(fmt, *list(buf))))
    if h5.H5Aexists(hid(d), b"crc32c") > 0:
        a = h5.H5Aopen(hid(d), b"crc32c", hid(0))
        assert h5.H5Awrite(hid(a), native_u64, ctypes.byref(crc)) >= 0
        h5.H5Aclose(hid(a))
    for close, obj in ((h5.H5Sclose, sp), (h5.H5Tclose, t), (h5.H5Dclose, d), (h5.H5Fclose, f)):
        close(hid(obj))


main()
