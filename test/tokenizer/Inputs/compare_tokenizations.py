"""Compares tpc's tokenizations with a reference's.

usage: compare_tokenizations.py NAME TPC.json REFERENCE.json TEXTS.json
                                [--round-trip [nfc|skip-leading-space]]

TPC.json and REFERENCE.json hold, for each text of TEXTS.json, its ids
(and decoding); a reference entry of null is not compared. Prints one line
per tokenizer with the counts and exits 1 at any difference, naming the
first text that differs. With --round-trip, decoding tpc's ids must give
the text back (for texts without special tokens): up to NFC for a
tokenizer that normalizes so; texts that start with a space are skipped
for Metaspace's "first" scheme, whose decoder drops the first token's
spaces by design (as Hugging Face's does).
"""
import json
import sys
import unicodedata


def main():
    name, tpc_path, ref_path, texts_path = sys.argv[1:5]
    flags = sys.argv[5:]
    texts = json.load(open(texts_path, encoding="utf-8"))
    tpc = json.load(open(tpc_path, encoding="utf-8"))
    ref = json.load(open(ref_path, encoding="utf-8"))
    assert len(tpc) == len(ref) == len(texts), (len(tpc), len(ref), len(texts))
    compared = 0
    for text, got, want in zip(texts, tpc, ref):
        if want is None:
            continue
        compared += 1
        if got["ids"] != want["ids"]:
            print(f"{name}: MISMATCH on {text!r}:\n  tpc       {got['ids']}\n"
                  f"  reference {want['ids']}")
            sys.exit(1)
        if "decoded" in want and got["decoded"] != want["decoded"]:
            print(f"{name}: decoding MISMATCH on {text!r}:\n"
                  f"  tpc       {got['decoded']!r}\n  reference {want['decoded']!r}")
            sys.exit(1)
    print(f"{name}: ids equal the reference's on {compared} of {len(texts)} texts")
    if "--round-trip" in flags:
        special = ("<|", "<s>", "</s>")
        checked = 0
        for text, got in zip(texts, tpc):
            if any(s in text for s in special):
                continue
            if "nfc" in flags:
                text = unicodedata.normalize("NFC", text)
            if "skip-leading-space" in flags and text.startswith(" "):
                continue
            checked += 1
            if got["round_trip"] != text:
                print(f"{name}: round trip MISMATCH: {text!r} -> {got['round_trip']!r}")
                sys.exit(1)
        print(f"{name}: decode(encode(text)) == text on {checked} texts")


if __name__ == "__main__":
    main()
