"""Print the number of every signal this process receives, one a line.

The helper program of the signal tests, as in dumb-init's and tini's suites.
It prints ``ready`` once it waits for signals, and exits 0 after printing one
of the signal numbers given as arguments.  With ``--stamp`` each line also
has the CLOCK_MONOTONIC time of receipt in nanoseconds (for the benchmarks).  It blocks the signals and takes
them with sigwaitinfo, so SIGTSTP, SIGTTIN and SIGTTOU do not stop it.
"""

import signal
import sys
import time

catchable = signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD}
stamp = "--stamp" in sys.argv
exit_on = {int(arg) for arg in sys.argv[1:] if arg != "--stamp"}
signal.pthread_sigmask(signal.SIG_BLOCK, catchable)
print("ready", flush=True)
while True:
    signum = signal.sigwaitinfo(catchable).si_signo
    print(f"{signum} {time.monotonic_ns()}" if stamp else signum, flush=True)
    if signum in exit_on:
        sys.exit(0)
