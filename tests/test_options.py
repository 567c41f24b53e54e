"""The command line and environment contract: every option, every variable, every bad value."""

import os
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reaper._command import UsageError, parse
from reaper._signals import CATCHABLE, parse_signal, signal_name
from reaper._supervisor import exit_status
from support import REAPER, environment

NO_ENV = {}


def test_defaults():
    options = parse(["sleep", "1"], NO_ENV)
    assert options == {
        "command": ["sleep", "1"],
        "grace": 5.0,
        "forward": "group",
        "rewrite": {},
        "verbose": False,
        "help": False,
        "version": False,
    }


def test_options_stop_at_the_command():
    options = parse(["--grace", "1", "sh", "-c", "--grace 2", "-v"], NO_ENV)
    assert options["command"] == ["sh", "-c", "--grace 2", "-v"]
    assert options["grace"] == 1.0
    assert not options["verbose"]


def test_double_dash_ends_options():
    assert parse(["-v", "--", "--help"], NO_ENV)["command"] == ["--help"]


@pytest.mark.parametrize(
    ("args", "env", "key", "expected"),
    [
        (["--grace", "2.5"], {}, "grace", 2.5),
        (["--grace=0"], {}, "grace", 0.0),
        ([], {"REAPER_GRACE": "7"}, "grace", 7.0),
        (["--grace=1"], {"REAPER_GRACE": "7"}, "grace", 1.0),
        (["--forward", "child"], {}, "forward", "child"),
        ([], {"REAPER_FORWARD": "child"}, "forward", "child"),
        (["--forward=group"], {"REAPER_FORWARD": "child"}, "forward", "group"),
        (["--rewrite", "TERM:INT"], {}, "rewrite", {15: 2}),
        (["--rewrite=15:0", "--rewrite", "sigusr1:SIGUSR2"], {}, "rewrite", {15: 0, 10: 12}),
        ([], {"REAPER_REWRITE": "TERM:INT, HUP:0,"}, "rewrite", {15: 2, 1: 0}),
        (["--rewrite", "USR1:USR2"], {"REAPER_REWRITE": "TERM:INT"}, "rewrite", {10: 12}),
        (["-v"], {}, "verbose", True),
        (["--verbose"], {"REAPER_DEBUG": "0"}, "verbose", True),
        ([], {"REAPER_DEBUG": "1"}, "verbose", True),
        ([], {"REAPER_DEBUG": "true"}, "verbose", True),
        ([], {"REAPER_DEBUG": "0"}, "verbose", False),
        ([], {"REAPER_DEBUG": ""}, "verbose", False),
    ],
)
def test_option_and_variable_values(args, env, key, expected):
    assert parse([*args, "true"], env)[key] == expected


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--grace", "soon"], {}, "--grace"),
        (["--grace=-1"], {}, "--grace"),
        (["--grace=nan"], {}, "--grace"),
        (["--grace=inf"], {}, "--grace"),
        ([], {"REAPER_GRACE": "5s"}, "REAPER_GRACE"),
        (["--forward", "all"], {}, "--forward"),
        ([], {"REAPER_FORWARD": "Group"}, "REAPER_FORWARD"),
        (["--rewrite", "TERM"], {}, "--rewrite"),
        (["--rewrite", "TERM:NOPE"], {}, "--rewrite"),
        (["--rewrite", "KILL:TERM"], {}, "--rewrite"),
        (["--rewrite", "CHLD:TERM"], {}, "--rewrite"),
        ([], {"REAPER_REWRITE": "TERM:INT,99:1"}, "REAPER_REWRITE"),
        ([], {"REAPER_DEBUG": "maybe"}, "REAPER_DEBUG"),
        (["--bogus"], {}, "--bogus"),
        (["-x"], {}, "-x"),
        (["--verbose=1"], {}, "--verbose=1"),
    ],
)
def test_bad_values_name_the_option_or_variable(args, env, named):
    with pytest.raises(UsageError, match=f"^{named}: "):
        parse([*args, "true"], env)


def test_a_valued_option_without_value():
    with pytest.raises(UsageError, match=r"^--grace: expected a value"):
        parse(["--grace"], NO_ENV)


def test_missing_command():
    with pytest.raises(UsageError, match="missing COMMAND"):
        parse(["-v"], NO_ENV)


def test_the_flag_wins_so_a_bad_variable_it_overrides_is_not_read():
    assert parse(["--grace", "1", "true"], {"REAPER_GRACE": "junk"})["grace"] == 1.0


@given(
    st.lists(st.text(), max_size=6),
    st.dictionaries(st.sampled_from(["REAPER_GRACE", "REAPER_FORWARD", "REAPER_REWRITE", "REAPER_DEBUG"]), st.text()),
)
def test_any_input_parses_or_gives_a_usage_error(args, env):
    try:
        parse(args, env)
    except UsageError as error:
        assert "\n" not in str(error)


@given(st.text())
def test_any_grace_text_is_a_finite_non_negative_number_or_a_usage_error(text):
    try:
        seconds = parse(["true"], {"REAPER_GRACE": text})["grace"]
    except UsageError as error:
        assert str(error).startswith("REAPER_GRACE: expected a number of seconds >= 0")
    else:
        assert 0 <= seconds < float("inf")


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--grace", "x", "true"], {}, "reaper: --grace: expected a number of seconds >= 0, got 'x'\n"),
        (["true"], {"REAPER_FORWARD": "nobody"}, "reaper: REAPER_FORWARD: expected 'group' or 'child', got 'nobody'\n"),
        (["--what", "true"], {}, "reaper: --what: unknown option (see reaper --help)\n"),
        ([], {}, "reaper: missing COMMAND (see reaper --help)\n"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_traceback(args, env, message):
    result = subprocess.run([*REAPER, *args], env=environment(**env), capture_output=True, text=True, timeout=30)
    assert (result.returncode, result.stderr, result.stdout) == (2, message, "")


def test_a_command_that_does_not_exist_exits_127():
    result = subprocess.run([*REAPER, "no-such-command-here"], capture_output=True, text=True, timeout=30)
    assert (result.returncode, result.stderr) == (127, "reaper: no-such-command-here: No such file or directory\n")


def test_a_command_that_is_not_executable_exits_126(tmp_path):
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\n")
    result = subprocess.run([*REAPER, str(script)], capture_output=True, text=True, timeout=30)
    assert (result.returncode, result.stderr) == (126, f"reaper: {script}: Permission denied\n")


def test_help_and_version():
    helped = subprocess.run([*REAPER, "--help"], capture_output=True, text=True, timeout=30)
    assert helped.returncode == 0
    for word in (
        "--grace",
        "REAPER_GRACE",
        "--forward",
        "REAPER_FORWARD",
        "--rewrite",
        "REAPER_REWRITE",
        "REAPER_DEBUG",
    ):
        assert word in helped.stdout
    version = subprocess.run([*REAPER, "--version"], capture_output=True, text=True, timeout=30)
    assert version.returncode == 0
    assert version.stdout.startswith("reaper ")


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("15", 15),
        ("TERM", 15),
        ("sigterm", 15),
        ("SIGUSR1", 10),
        ("IOT", 6),
        ("CLD", 17),
        ("RTMIN", 34),
        ("RTMIN+3", 37),
        ("rtmax-1", 63),
    ],
)
def test_signal_names_and_numbers(text, number):
    assert parse_signal(text) == number


@pytest.mark.parametrize("text", ["", "0", "65", "TERMINATE", "RTMIN-1", "RTMAX+1", "RTMIN+", "-15"])
def test_unknown_signals(text):
    with pytest.raises(ValueError, match="unknown signal"):
        parse_signal(text)


def test_every_catchable_signal_has_a_name_that_parses_back():
    for number in CATCHABLE:
        assert parse_signal(signal_name(number).removeprefix("SIG")) == number


@pytest.mark.parametrize("code", [0, 1, 42, 127, 255])
def test_exit_status_of_an_exit_code(code):
    assert exit_status(code << 8) == code


@pytest.mark.parametrize("signum", [1, 9, 15, 31, 64])
def test_exit_status_of_a_signal_death(signum):
    assert exit_status(signum) == 128 + signum


def test_the_real_wait_status_of_a_killed_process():
    pid = os.posix_spawnp("sh", ["sh", "-c", "kill -USR1 $$"], os.environ)
    assert exit_status(os.waitpid(pid, 0)[1]) == 138
