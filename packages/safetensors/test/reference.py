#!/usr/bin/env python3
"""Independent numpy-only safetensors implementation used by the interop tests.

Does not use (or need) the `safetensors` pip package. Subcommands:
  write PATH          write a file with fixed tensors; print a JSON manifest of the expected values
  read PATH           parse PATH (strictly) and print every tensor as JSON
  f16 IN OUT          float32 bits (IN, raw LE) -> float16 bits via numpy (round to nearest even)
  f16decode OUT       all 65536 half bit patterns -> float32 bits via numpy
  bf16 IN OUT         float32 bits -> bfloat16 bits, round to nearest even, computed in value space
Values in JSON are raw bit patterns (floats; F64 as decimal strings) or decimal strings (64-bit integers), so NaN
payloads and signed zeros compare exactly.
"""
import json
import struct
import sys

import numpy as np

DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U8": np.dtype("u1"), "BOOL": np.dtype("u1"),
}
BITS = {"F64": "<u8", "F32": "<u4", "F16": "<u2", "BF16": "<u2"}


def bf16_from_f32(values):
    """Round float32 -> bfloat16 by comparing distances in float64 (independent of the bit trick)."""
    bits = np.ascontiguousarray(values, dtype="<f4").view("<u4")
    low = (bits >> 16).astype(np.uint32)  # truncation toward zero in magnitude
    high = low + 1
    x = bits.view("<f4").astype(np.float64)
    lo_val = (low << 16).astype("<u4").view("<f4").astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        hi_val = (high << 16).astype("<u4").view("<f4").astype(np.float64)
        # Stepping past the largest finite bf16 gives Inf; the rounding boundary there is 2^128 - 2^119.
        hi_val = np.where(np.isinf(hi_val) & ~np.isinf(lo_val), np.sign(x) * 2.0 ** 128, hi_val)
        d_lo = np.abs(x - lo_val)
        d_hi = np.abs(hi_val - x)
    pick_hi = (d_hi < d_lo) | ((d_hi == d_lo) & (low % 2 == 1))
    out = np.where(pick_hi, high, low).astype(np.uint32)
    exact = (bits & 0xFFFF) == 0
    out = np.where(exact, low, out)
    nan = np.isnan(x)
    out = np.where(nan, (bits >> 16) | 0x40, out)
    return out.astype("<u2")


def fixed_tensors():
    rng = np.random.default_rng(1234)
    f32 = rng.standard_normal((3, 5)).astype("<f4")
    f32.flat[0] = np.float32("nan")
    f32.flat[1] = np.float32("-inf")
    f32.flat[2] = np.float32(-0.0)
    f32.flat[3] = np.float32(1e-45)  # smallest float32 subnormal
    f16 = (rng.standard_normal((2, 3, 4)) * 100).astype("<f2")
    f16.flat[0] = np.float16(6.0e-8)  # subnormal half
    f16.flat[1] = np.float16("inf")
    f16.flat[2] = np.float16(65504)
    bf16 = bf16_from_f32(rng.standard_normal(7).astype("<f4") * 1e3)
    return {
        "float32.matrix": ("F32", f32),
        "float16.cube": ("F16", f16),
        "bfloat16.vector": ("BF16", bf16.reshape(7)),
        "float64.vector": ("F64", np.array([1e-310, -1e308, 0.1], dtype="<f8")),
        "int64.ids": ("I64", np.array([-(2 ** 63), 2 ** 63 - 1, 0, 123456789012345], dtype="<i8")),
        "int32.values": ("I32", np.array([[-(2 ** 31), 2 ** 31 - 1], [7, -7]], dtype="<i4")),
        "int16.values": ("I16", np.array([-32768, 32767], dtype="<i2")),
        "int8.values": ("I8", np.array([-128, 127, 0], dtype="i1")),
        "uint8.bytes": ("U8", np.arange(256, dtype="u1").reshape(16, 16)),
        "bool.mask": ("BOOL", np.array([True, False, True])),
        "empty.rows": ("F32", np.zeros((0, 3), dtype="<f4")),
        "scalar.step": ("I64", np.array(41, dtype="<i8")),
    }


def to_json_values(dtype, array):
    flat = np.ascontiguousarray(array).reshape(-1)
    if dtype in BITS:
        return [int(v) for v in flat.view(BITS[dtype])] if dtype != "F64" else [str(int(v)) for v in flat.view("<u8")]
    if dtype == "I64":
        return [str(int(v)) for v in flat]
    return [int(v) for v in flat.astype(np.int64)]


def write(path):
    tensors = fixed_tensors()
    header, chunks, offset = {"__metadata__": {"format": "pt", "writer": "numpy"}}, [], 0
    # Deliberately not sorted by name: the body order is the dict order, the header key order reversed.
    for name, (dtype, array) in tensors.items():
        data = np.ascontiguousarray(array, dtype=DTYPES[dtype]).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    header = dict(reversed(list(header.items())))
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for chunk in chunks:
            f.write(chunk)
    manifest = {name: {"dtype": d, "shape": list(a.shape), "values": to_json_values(d, a)} for name, (d, a) in tensors.items()}
    json.dump({"metadata": {"format": "pt", "writer": "numpy"}, "tensors": manifest}, sys.stdout)


def read(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0, f"header length {n} is not a multiple of 8"
    text = raw[8 : 8 + n]
    assert text.rstrip(b" ") == text.rstrip(), "header padding must be spaces"
    header = json.loads(text.decode("utf-8"))
    body = raw[8 + n :]
    metadata = header.pop("__metadata__", {})
    spans = sorted((info["data_offsets"][0], info["data_offsets"][1], name) for name, info in header.items())
    cursor = 0
    for begin, end, name in spans:
        assert begin == cursor, f"{name}: gap or overlap at {begin} (expected {cursor})"
        cursor = end
    assert cursor == len(body), f"body has {len(body)} bytes, tensors cover {cursor}"
    out = {}
    for name, info in header.items():
        dtype, shape = info["dtype"], info["shape"]
        begin, end = info["data_offsets"]
        array = np.frombuffer(body[begin:end], dtype=DTYPES[dtype])
        assert array.size == int(np.prod(shape, dtype=np.int64)), f"{name}: size mismatch"
        out[name] = {"dtype": dtype, "shape": shape, "values": to_json_values(dtype, array.reshape(shape))}
    json.dump({"metadata": metadata, "tensors": out, "headerKeys": list(header.keys())}, sys.stdout)


def main():
    command, *args = sys.argv[1:]
    if command == "write":
        write(args[0])
    elif command == "read":
        read(args[0])
    elif command == "f16":
        x = np.fromfile(args[0], dtype="<f4")
        with np.errstate(over="ignore"):
            x.astype("<f2").view("<u2").tofile(args[1])
    elif command == "f16decode":
        np.arange(65536, dtype=np.uint32).astype("<u2").view("<f2").astype("<f4").view("<u4").tofile(args[0])
    elif command == "bf16":
        bf16_from_f32(np.fromfile(args[0], dtype="<f4")).tofile(args[1])
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main()
