"""Independent statistics of LITPKDS shards, straight from the bytes with numpy (for the stats tests).

usage: stats_oracle.py BOS_ID EOS_ID SHARD...   prints one JSON object per shard, in order, as a list.
"""
import json
import struct
import sys

import numpy as np

DTYPES = {8: np.uint16, 4: np.int32}


def read(path):
    with open(path, "rb") as f:
        head = f.read(24)
        assert head[:7] == b"LITPKDS", path
        (version,) = struct.unpack("<Q", head[7:15])
        assert version == 1
        dtype = DTYPES[head[15]]
        (chunk,) = struct.unpack("<Q", head[16:24])
        ids = np.frombuffer(f.read(), dtype=np.dtype(dtype).newbyteorder("<")).astype(np.int64)
        assert len(ids) == chunk
        return ids


def longest_run(ids):
    # Boundaries where the id changes; the longest gap between them is the longest run.
    change = np.flatnonzero(np.diff(ids)) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [len(ids)]))
    lengths = ends - starts
    k = int(np.argmax(lengths))
    return int(ids[starts[k]]), int(lengths[k]), int(starts[k])


def main():
    bos, eos = int(sys.argv[1]), int(sys.argv[2])
    out = []
    for path in sys.argv[3:]:
        ids = read(path)
        run_id, run_length, run_offset = longest_run(ids)
        out.append({
            "bos": int(np.count_nonzero(ids == bos)),
            "eos": int(np.count_nonzero(ids == eos)),
            "min": int(ids.min()),
            "max": int(ids.max()),
            "run_id": run_id,
            "run_length": run_length,
            "run_offset": run_offset,
        })
    json.dump(out, sys.stdout)


main()
