"""Runs a program with an injected rank fault and checks how it ends.

usage: fault_run.py FAULT BOUND EXE [--rendezvous DIR] -- COMMAND...

FAULT is TPC_INJECT_FAULT (RANK:POINT:KIND). Prints the exit code, the
seconds from the fault firing to the end of the whole command (it must be
at most BOUND: the timeout plus one second), whether any process of EXE
(the program's executable) is left, and whether the rendezvous directory is gone; then the
program's stderr. Exits 1 when a check fails.
"""
import os
import subprocess
import sys
import tempfile
import time


def running(exe):
    """The processes whose executable is `exe`."""
    target = os.path.realpath(exe)
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.path.realpath(os.readlink(f"/proc/{pid}/exe")) == target:
                found.append(pid)
        except OSError:
            pass
    return found


def main():
    fault, bound, exe = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    args = sys.argv[4:]
    rendezvous = None
    if args[0] == "--rendezvous":
        rendezvous, args = args[1], args[2:]
    assert args[0] == "--"
    command = args[1:]
    stamp = tempfile.NamedTemporaryFile(delete=False).name
    os.unlink(stamp)
    env = dict(os.environ, TPC_INJECT_FAULT=fault, TPC_FAULT_STAMP=stamp)
    if rendezvous:
        env["TPC_RENDEZVOUS_DIR"] = rendezvous
    result = subprocess.run(command, env=env, capture_output=True, text=True,
                            timeout=bound + 60)
    end = time.time()
    ok = result.returncode != 0
    if not os.path.exists(stamp):
        print("the fault never fired")
        ok = False
        elapsed = float("nan")
    else:
        elapsed = end - float(open(stamp).read())
        os.unlink(stamp)
        ok &= elapsed <= bound
    # Any process still running the program's executable is an orphan.
    left = running(exe)
    ok &= not left
    gone = rendezvous is None or not os.path.exists(rendezvous)
    ok &= gone
    print(f"exit {result.returncode}; ended {'within' if elapsed <= bound else 'AFTER'} "
          f"{bound:g} s of the fault; orphans: {'none' if not left else left}; "
          f"rendezvous: {'removed' if gone else 'LEFT'}")
    sys.stdout.write(result.stderr)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
