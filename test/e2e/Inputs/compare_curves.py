"""Compares the loss curves two training runs printed ("step N/M: loss L,
..." lines): step by step within --tol (default 1e-4), and with --falls F
the last loss below F times the first.

usage: compare_curves.py RUN_A.txt RUN_B.txt [--tol T] [--falls F]
"""
import re
import sys


def losses(path):
    return [float(m.group(1)) for m in
            re.finditer(r"^step \d+/\d+: loss ([0-9.eE+-]+|nan|inf)", open(path).read(), re.M)]


def main():
    a, b = losses(sys.argv[1]), losses(sys.argv[2])
    args = sys.argv[3:]
    tol = float(args[args.index("--tol") + 1]) if "--tol" in args else 1e-4
    falls = float(args[args.index("--falls") + 1]) if "--falls" in args else None
    ok = len(a) == len(b) and len(a) > 0
    diff = max((abs(x - y) for x, y in zip(a, b)), default=float("inf"))
    ok &= diff <= tol
    print(f"{len(a)} and {len(b)} steps, max loss difference {diff:.3g}, "
          f"first {a[0]:.4f}, last {a[-1]:.4f}")
    if falls is not None:
        ratio = a[-1] / a[0]
        print(f"last / first = {ratio:.4f} ({'below' if ratio < falls else 'not below'} {falls})")
        ok &= ratio < falls
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
