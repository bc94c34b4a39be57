#!/usr/bin/python3
"""Independent reference packer, written from the LITPKDS format facts alone (not from our C# code).

Reads SlimPajama-style jsonl.zst files in the order given, drops records whose meta.redpajama_set_name is
RedPajamaGithub, tokenizes `text` with python sentencepiece as `sp.encode(text) + [eos]` (TinyLlama's
scripts), concatenates everything and cuts it into chunks of CHUNK tokens. Each full chunk becomes
`{prefix}_{counter:010d}.bin`: b"LITPKDS", u64 LE version 1, u8 dtype code (8 = uint16 when the
vocabulary has fewer than 65,500 ids, else 4 = int32), u64 LE chunk size, then the tokens little-endian.
The tail is dropped, or with --pad filled with the BOS id (TinyLlama's separator/fill token).

usage: reference_packer.py MODEL OUTDIR PREFIX CHUNK drop|pad FILE...
prints one JSON line: {"shards": n, "tokens": total, "dropped": d, "padded": p}
"""
import io
import json
import os
import struct
import sys

import numpy as np
import sentencepiece as spm
import zstandard


def records(path):
    with open(path, "rb") as fh:
        reader = zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True)
        for line in io.TextIOWrapper(reader, encoding="utf-8"):
            if line.strip():
                yield json.loads(line)


def main():
    model, outdir, prefix, chunk, tail = sys.argv[1:6]
    files = sys.argv[6:]
    chunk = int(chunk)
    sp = spm.SentencePieceProcessor(model_file=model)
    vocab = sp.get_piece_size()
    dtype, code = (np.uint16, 8) if vocab < 65500 else (np.int32, 4)
    stream = []
    for f in files:
        for rec in records(f):
            if rec.get("meta", {}).get("redpajama_set_name") == "RedPajamaGithub":
                continue
            stream.extend(sp.encode(rec["text"]) + [sp.eos_id()])
    total = len(stream)
    full, rest = divmod(total, chunk)
    padded = 0
    if rest and tail == "pad":
        padded = chunk - rest
        stream.extend([sp.bos_id()] * padded)
        full += 1
    os.makedirs(outdir, exist_ok=True)
    arr = np.array(stream[: full * chunk], dtype=dtype)
    for i in range(full):
        with open(os.path.join(outdir, f"{prefix}_{i:010d}.bin"), "wb") as out:
            out.write(b"LITPKDS")
            out.write(struct.pack("<Q", 1))
            out.write(struct.pack("<B", code))
            out.write(struct.pack("<Q", chunk))
            out.write(arr[i * chunk:(i + 1) * chunk].astype("<" + np.dtype(dtype).str[1:]).tobytes())
    print(json.dumps({"shards": full, "tokens": total, "dropped": rest if tail == "drop" else 0, "padded": padded}))


if __name__ == "__main__":
    main()
