"""Job control through a real pseudo-terminal: the child owns the terminal's foreground."""

import pexpect
import pytest

from support import PROMPT, REAPER, as_pid1, assert_job_control, environment


@pytest.mark.parametrize("wrap", [as_pid1, list], ids=["pid1", "subreaper"])
def test_an_interactive_shell_has_job_control(wrap):
    assert_job_control(wrap([*REAPER, "bash", "--norc", "--noprofile", "-i"]))


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
