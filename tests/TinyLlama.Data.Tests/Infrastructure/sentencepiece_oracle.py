"""Reference encoder for the tests: Debian's python3-sentencepiece, run by SentencePieceOracle.cs.

Run with /usr/bin/python3 (the interpreter Debian's packages install into).

  sentencepiece_oracle.py encode MODEL IN OUT
      IN: JSON lines, each {"text": str} or {"b64": base64 of raw bytes, passed to sentencepiece as bytes
      (so invalid UTF-8 reaches it unchanged)}; OUT: one line per input, its ids separated by spaces.
  sentencepiece_oracle.py corpus MODEL OUT FILE...
      Reads every record of FILE... (*.jsonl, *.jsonl.zst, *.jsonl.gz; field "text"), replaces lone
      surrogates by U+FFFD, and writes JSON lines {"file", "record", "text", "ids"} (ASCII-escaped).
"""
import base64
import gzip
import io
import json
import re
import sys

import sentencepiece as spm

LONE_SURROGATE = re.compile('[\ud800-\udfff]')


def records(path):
    if path.endswith('.zst'):
        import zstandard
        raw = open(path, 'rb')
        stream = zstandard.ZstdDecompressor().stream_reader(raw)
        lines = io.TextIOWrapper(stream, encoding='utf-8')
    elif path.endswith('.gz'):
        lines = gzip.open(path, 'rt', encoding='utf-8')
    else:
        lines = open(path, 'r', encoding='utf-8')
    with lines:
        for number, line in enumerate(lines):
            if line.strip():
                yield number, json.loads(line)['text']


def main():
    mode, model = sys.argv[1], sys.argv[2]
    sp = spm.SentencePieceProcessor(model_file=model)
    if mode == 'encode':
        with open(sys.argv[3], 'r', encoding='utf-8') as f:
            rows = [json.loads(line) for line in f]
        texts = [r['text'] if 'text' in r else base64.b64decode(r['b64']) for r in rows]
        ids = sp.encode(texts)
        with open(sys.argv[4], 'w', encoding='ascii') as out:
            for row in ids:
                out.write(' '.join(map(str, row)) + '\n')
    elif mode == 'corpus':
        with open(sys.argv[3], 'w', encoding='ascii') as out:
            for path in sys.argv[4:]:
                rows = [(n, LONE_SURROGATE.sub('\ufffd', t)) for n, t in records(path)]
                ids = sp.encode([t for _, t in rows])
                for (n, t), row in zip(rows, ids):
                    out.write(json.dumps({'file': path, 'record': n, 'text': t, 'ids': row}) + '\n')
    else:
        raise SystemExit('unknown mode ' + mode)


if __name__ == '__main__':
    main()
