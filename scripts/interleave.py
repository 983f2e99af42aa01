"""Time commands interleaved, as whole processes: wall clock and CPU (user + system).

    python scripts/interleave.py 20 "before=…command…" "after=…command…"

One round runs each command once, in the order given; the first round is a warm-up. On a
shared machine interleaving spreads the load's swings over every command alike, and CPU
time (the process and its threads, from ``os.wait4``) is the figure load moves least.
``PREP="…"`` runs a command before each timed one, untimed (e.g. a ``VACUUM``).
"""

from __future__ import annotations

import os
import shlex
import statistics
import subprocess
import sys
import time


def main(argv: list[str]) -> None:
    runs = int(argv[0])
    commands = [arg.split("=", 1) for arg in argv[1:]]
    timings: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n, _ in commands}
    prep = os.environ.get("PREP")
    for round_ in range(runs + 1):
        for name, command in commands:
            if prep:
                subprocess.run(shlex.split(prep), check=True, stdout=subprocess.DEVNULL)
            began = time.perf_counter()
            child = subprocess.Popen(shlex.split(command), stdout=subprocess.DEVNULL)
            _, status, usage = os.wait4(child.pid, 0)
            wall = time.perf_counter() - began
            if os.waitstatus_to_exitcode(status) != 0:
                sys.exit(f"{name} failed: {command}")
            if round_:
                timings[name][0].append(wall)
                timings[name][1].append(usage.ru_utime + usage.ru_stime)
    for name, (walls, cpus) in timings.items():
        print(
            f"{name:>12}: wall min {min(walls):.3f} mean {statistics.mean(walls):.3f} "
            f"median {statistics.median(walls):.3f} | cpu min {min(cpus):.3f} "
            f"mean {statistics.mean(cpus):.3f}  (n={len(walls)})"
        )
    print("load average", " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main(sys.argv[1:])
