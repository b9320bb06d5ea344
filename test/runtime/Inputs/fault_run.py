"""Runs a program with an injected rank fault and checks how it ends.

usage: fault_run.py FAULT BOUND EXE [--rendezvous DIR] -- COMMAND...

FAULT is TPC_INJECT_FAULT (RANK:POINT:KIND). Prints the exit code, whether
every rank (every process of EXE, the program's executable, or the
program itself for thread ranks) ended at most BOUND seconds (the timeout
plus one second) after the fault fired, whether any process of EXE is
left once the command ends, and whether the rendezvous directory is gone;
then the program's stderr. Exits 1 when a check fails. (mpirun itself
takes about a second more to report and exit after its last process.)
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
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    # The moment the last rank is gone: the program itself, or (under
    # mpirun) the last process of its executable.
    ranks_end = None
    deadline = time.time() + bound + 60
    while time.time() < deadline:
        finished = process.poll() is not None
        if os.path.exists(stamp) and (finished or not running(exe)):
            ranks_end = time.time()
            break
        if finished:
            break
        time.sleep(0.02)
    _, stderr = process.communicate(timeout=max(1, deadline - time.time()))
    result = subprocess.CompletedProcess(command, process.returncode, "",
                                         stderr)
    end = ranks_end if ranks_end is not None else time.time()
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
          f"rendezvous: {'removed' if gone else 'LEFT'}"
          f" ({elapsed:.2f} s)")
    sys.stdout.write(result.stderr)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
