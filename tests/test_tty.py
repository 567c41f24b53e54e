"""Job control through a real pseudo-terminal: the child owns the terminal's foreground."""

from pathlib import Path

import pexpect
import pytest

from support import REAPER, as_pid1, environment, wait_for

PROMPT = "PROMPT> "


def sleep_holds_the_foreground():
    """Whether a ``sleep`` is the foreground process group of its terminal."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, fields = stat.read_text().rsplit(") ", 1)
        except OSError:
            continue
        fields = fields.split()
        if name.endswith("(sleep") and fields[0] != "Z" and fields[2] == fields[5]:
            return True
    return False


@pytest.mark.parametrize("wrap", [as_pid1, list], ids=["pid1", "subreaper"])
def test_an_interactive_shell_has_job_control(wrap):
    argv = wrap([*REAPER, "bash", "--norc", "--noprofile", "-i"])
    shell = pexpect.spawn(argv[0], argv[1:], env=environment(PS1=PROMPT, TERM="dumb"), encoding="utf-8", timeout=15)
    try:
        shell.expect_exact(PROMPT)
        assert "job control" not in shell.before
        assert "terminal process group" not in shell.before

        shell.sendline("sleep 30")
        wait_for(sleep_holds_the_foreground, what="sleep in the foreground")
        shell.sendcontrol("c")
        shell.expect_exact(PROMPT)
        shell.sendline("echo status=$?")
        shell.expect_exact("status=130")

        shell.sendline("sleep 30")
        wait_for(sleep_holds_the_foreground, what="sleep in the foreground")
        shell.sendcontrol("z")
        shell.expect("Stopped")
        shell.expect_exact(PROMPT)
        shell.sendline("fg")
        shell.expect_exact("sleep 30")
        wait_for(sleep_holds_the_foreground, what="sleep back in the foreground")
        shell.sendcontrol("c")
        shell.expect_exact(PROMPT)

        shell.sendline("exit 7")
        shell.expect(pexpect.EOF)
    finally:
        shell.close(force=True)
    assert shell.exitstatus == 7


def test_control_a_child_in_a_background_group_gets_no_prompt():
    # What the reaper would do without handing over the terminal: bash stops itself with SIGTTIN.
    argv = ["python3", "-c", "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:], process_group=0))"]
    argv += ["bash", "--norc", "--noprofile", "-i"]
    shell = pexpect.spawn(argv[0], argv[1:], env=environment(PS1=PROMPT, TERM="dumb"), encoding="utf-8", timeout=3)
    try:
        with pytest.raises(pexpect.TIMEOUT):
            shell.expect_exact(PROMPT)
    finally:
        shell.close(force=True)
