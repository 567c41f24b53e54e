"""The orphan storm: the workload that shows whether a PID 1 reaps. Shared by the tests and the demo."""


def orphan_storm(count):
    """A shell script that makes ``count`` orphans, then prints ``zombies=N``: the zombies
    left among its parent's children after they had up to 5 s to be reaped."""
    return f"""
i=0; while [ $i -lt {count} ]; do (sleep 0 &); i=$((i+1)); done
t=0; while :; do
  z=0
  for s in /proc/[0-9]*/stat; do
    read -r line < "$s" 2>/dev/null || continue
    case "${{line##*) }}" in "Z $PPID "*) z=$((z+1));; esac
  done
  [ $z -eq 0 ] || [ $t -ge 50 ] && break
  t=$((t+1)); sleep 0.1
done
echo zombies=$z
"""


def zombies_reported(output):
    """The N of the ``zombies=N`` line that :func:`orphan_storm` printed."""
    return int(output.rsplit("zombies=", 1)[1].split()[0])
