"""The command line and environment contract: every option, every variable, every bad value."""

import os
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reaper import _command, _proc
from reaper._command import UsageError, parse
from reaper._signals import CATCHABLE, parse_signal, signal_name
from reaper._supervisor import exit_status
from support import REAPER, environment, run

NO_ENV = {}


def test_defaults():
    options = parse(["sleep", "1"], NO_ENV)
    assert options == {
        "command": ["sleep", "1"],
        "given": set(),
        "grace": 5.0,
        "forward": "auto",
        "rewrite": {},
        "verbose": False,
        "stop_delay": 0.0,
        "stop_all": False,
        "exit_map": {},
        "user": None,
        "pdeathsig": None,
        "cpu_count": None,
        "help": False,
        "version": False,
    }


def test_options_stop_at_the_command():
    options = parse(["--grace", "1", "sh", "-c", "--grace 2", "-v"], NO_ENV)
    assert options["command"] == ["sh", "-c", "--grace 2", "-v"]
    assert options["grace"] == 1.0
    assert not options["verbose"]


def test_given_names_the_options_of_the_command_line_only():
    assert parse(["-v", "--grace=1", "--exit-map", "1:0", "true"], {"REAPER_STOP_DELAY": "2"})["given"] == {
        "verbose",
        "grace",
        "exit_map",
    }


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
        (["--forward", "auto"], {"REAPER_FORWARD": "group"}, "forward", "auto"),
        ([], {"REAPER_FORWARD": "auto"}, "forward", "auto"),
        (["--rewrite", "TERM:INT"], {}, "rewrite", {15: 2}),
        (["--rewrite=15:0", "--rewrite", "sigusr1:SIGUSR2"], {}, "rewrite", {15: 0, 10: 12}),
        ([], {"REAPER_REWRITE": "TERM:INT, HUP:0,"}, "rewrite", {15: 2, 1: 0}),
        (["--rewrite", "USR1:USR2"], {"REAPER_REWRITE": "TERM:INT"}, "rewrite", {15: 2, 10: 12}),
        (["--rewrite", "TERM:HUP"], {"REAPER_REWRITE": "TERM:INT,USR1:0"}, "rewrite", {15: 1, 10: 0}),
        (["--rewrite", "TERM:INT,HUP:0"], {}, "rewrite", {15: 2, 1: 0}),
        ([], {"REAPER_REWRITE": ""}, "rewrite", {}),
        ([], {"REAPER_GRACE": ""}, "grace", 5.0),
        ([], {"REAPER_FORWARD": ""}, "forward", "auto"),
        (["--grace", "1e9"], {}, "grace", 1e9),
        (["--stop-delay", "2"], {}, "stop_delay", 2.0),
        (["--stop-delay=0.5"], {"REAPER_STOP_DELAY": "7"}, "stop_delay", 0.5),
        ([], {"REAPER_STOP_DELAY": "7"}, "stop_delay", 7.0),
        ([], {"REAPER_STOP_DELAY": ""}, "stop_delay", 0.0),
        (["--stop-all"], {}, "stop_all", True),
        (["--stop-all"], {"REAPER_STOP_ALL": "0"}, "stop_all", True),
        ([], {"REAPER_STOP_ALL": "1"}, "stop_all", True),
        ([], {"REAPER_STOP_ALL": "off"}, "stop_all", False),
        ([], {"REAPER_STOP_ALL": ""}, "stop_all", False),
        (["--exit-map", "143:0"], {}, "exit_map", {143: 0}),
        (["--exit-map=143:0", "--exit-map", "1:2"], {}, "exit_map", {143: 0, 1: 2}),
        ([], {"REAPER_EXIT_MAP": "143:0, 130:0,"}, "exit_map", {143: 0, 130: 0}),
        (["--exit-map", "143:1"], {"REAPER_EXIT_MAP": "143:0,137:0"}, "exit_map", {143: 1, 137: 0}),
        ([], {"REAPER_EXIT_MAP": ""}, "exit_map", {}),
        (["--exit-map", "0:255"], {}, "exit_map", {0: 255}),
        (["-v"], {}, "verbose", True),
        (["--verbose"], {"REAPER_DEBUG": "0"}, "verbose", True),
        ([], {"REAPER_DEBUG": "1"}, "verbose", True),
        ([], {"REAPER_DEBUG": "true"}, "verbose", True),
        ([], {"REAPER_DEBUG": "0"}, "verbose", False),
        ([], {"REAPER_DEBUG": ""}, "verbose", False),
        (["--user", "app:staff"], {"REAPER_USER": "root"}, "user", "app:staff"),
        ([], {"REAPER_USER": "1000"}, "user", "1000"),
        ([], {"REAPER_USER": ""}, "user", None),
        (["--pdeathsig=TERM"], {}, "pdeathsig", 15),
        ([], {"REAPER_PDEATHSIG": "SIGUSR1"}, "pdeathsig", 10),
        (["--cpu-count", "quota"], {}, "cpu_count", "quota"),
        ([], {"REAPER_CPU_COUNT": "quota"}, "cpu_count", "quota"),
        ([], {"REAPER_CPU_COUNT": ""}, "cpu_count", None),
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
        (["--rewrite", ""], {}, "--rewrite"),
        (["--rewrite", ","], {}, "--rewrite"),
        (["--rewrite=TERM:INT,"], {}, "--rewrite"),
        (["--rewrite", "\u0661\u0665:INT"], {}, "--rewrite"),
        (["--rewrite", "USR1:USR2"], {"REAPER_REWRITE": "TERM:NOPE"}, "REAPER_REWRITE"),
        (["--grace", ""], {}, "--grace"),
        (["--grace", "1e300"], {}, "--grace"),
        ([], {"REAPER_GRACE": "1000000001"}, "REAPER_GRACE"),
        ([], {"REAPER_GRACE": "\u0661"}, "REAPER_GRACE"),
        (["--stop-delay", "-1"], {}, "--stop-delay"),
        (["--stop-delay", "soon"], {}, "--stop-delay"),
        (["--stop-delay", "1e300"], {}, "--stop-delay"),
        ([], {"REAPER_STOP_DELAY": "inf"}, "REAPER_STOP_DELAY"),
        ([], {"REAPER_STOP_DELAY": "2s"}, "REAPER_STOP_DELAY"),
        (["--stop-all=1"], {}, "--stop-all=1"),
        ([], {"REAPER_STOP_ALL": "all"}, "REAPER_STOP_ALL"),
        (["--exit-map", ""], {}, "--exit-map"),
        (["--exit-map", ","], {}, "--exit-map"),
        (["--exit-map", "143"], {}, "--exit-map"),
        (["--exit-map", "143:256"], {}, "--exit-map"),
        (["--exit-map", "256:0"], {}, "--exit-map"),
        (["--exit-map", "-1:0"], {}, "--exit-map"),
        (["--exit-map", "1:2:3"], {}, "--exit-map"),
        (["--exit-map", "0300:0"], {}, "--exit-map"),
        (["--exit-map", "\u0661:0"], {}, "--exit-map"),
        (["--exit-map", "TERM:0"], {}, "--exit-map"),
        ([], {"REAPER_EXIT_MAP": "143:0,x"}, "REAPER_EXIT_MAP"),
        (["--bogus"], {}, "--bogus"),
        (["-x"], {}, "-x"),
        (["--verbose=1"], {}, "--verbose=1"),
        (["--user", ""], {}, "--user"),
        ([], {"REAPER_USER": "app:"}, "REAPER_USER"),
        (["--pdeathsig", "KILL"], {}, "--pdeathsig"),
        ([], {"REAPER_PDEATHSIG": "NOPE"}, "REAPER_PDEATHSIG"),
        (["--cpu-count", "max"], {}, "--cpu-count"),
        ([], {"REAPER_CPU_COUNT": "1"}, "REAPER_CPU_COUNT"),
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


@pytest.mark.parametrize("args", [[""], ["--", ""], ["-v", "", "arg"]])
def test_an_empty_command_is_a_usage_error(args):
    with pytest.raises(UsageError, match=r"^COMMAND is empty"):
        parse(args, NO_ENV)


ARABIC_DIGITS = str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")


@pytest.mark.parametrize(
    ("spell", "in_place"),
    [
        (str, True),
        (lambda pid: str(pid).translate(ARABIC_DIGITS), False),
        (lambda pid: f"+{pid}", False),
        (lambda pid: f" {pid}", False),
        (lambda pid: "0" * 5000 + str(pid), False),
        (lambda pid: "9" * 5000, False),
    ],
    ids=["plain", "arabic-digits", "plus", "space", "5000-digits", "huge"],
)
def test_only_a_plain_ascii_pid_marker_names_a_reaper_above(spell, in_place):
    # This test process is a live ancestor of the reaper: only its plain pid runs COMMAND in place.
    result = subprocess.run(
        [*REAPER, "sh", "-c", "echo $PPID"], env=environment(REAPER=spell(os.getpid())), capture_output=True, text=True
    )
    assert result.stderr == ""
    assert (result.stdout == f"{os.getpid()}\n") is in_place


def test_a_marker_of_0_names_no_reaper():
    # A docker exec'd process has parent 0 in the container: "REAPER=0" must not name it.
    assert not _proc.reaper_above("0")


def test_the_flag_wins_so_a_bad_variable_it_overrides_is_not_read():
    assert parse(["--grace", "1", "true"], {"REAPER_GRACE": "junk"})["grace"] == 1.0


@given(
    st.lists(st.text(), max_size=6),
    st.dictionaries(st.sampled_from(_command.VARIABLES), st.text()),
)
def test_any_input_parses_or_gives_a_usage_error(args, env):
    try:
        parse(args, env)
    except UsageError as error:
        assert "\n" not in str(error)


SECONDS_TEXT = st.one_of(st.text(), st.floats().map(repr), st.integers().map(str), st.just(""))


@pytest.mark.parametrize(("key", "variable"), [("grace", "REAPER_GRACE"), ("stop_delay", "REAPER_STOP_DELAY")])
@given(text=SECONDS_TEXT)
def test_any_seconds_text_is_a_wait_the_clock_can_hold_or_a_usage_error(key, variable, text):
    try:
        seconds = parse(["true"], {variable: text})[key]
    except UsageError as error:
        assert str(error).startswith(f"{variable}: expected a number of seconds >= 0")
    else:
        assert 0 <= seconds <= 1e9


@given(st.text())
def test_any_exit_map_text_is_a_table_of_statuses_or_a_usage_error(text):
    for args, env, source in (
        ([f"--exit-map={text}"], {}, "--exit-map"),
        ([], {"REAPER_EXIT_MAP": text}, "REAPER_EXIT_MAP"),
    ):
        try:
            table = parse([*args, "true"], env)["exit_map"]
        except UsageError as error:
            assert str(error).startswith(f"{source}: expected FROM:TO with exit statuses from 0 to 255")
        else:
            assert all(0 <= status <= 255 for pair in table.items() for status in pair)


@given(st.text(alphabet=st.sampled_from(", \t")))
def test_a_blank_rewrite_option_is_an_error_and_a_blank_variable_is_unset(text):
    with pytest.raises(UsageError, match=r"^--rewrite: "):
        parse(["--rewrite", text, "true"], NO_ENV)
    assert parse(["true"], {"REAPER_REWRITE": text})["rewrite"] == {}


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--grace", "x", "true"], {}, "reaper: --grace: expected a number of seconds >= 0, got 'x'\n"),
        (
            ["true"],
            {"REAPER_FORWARD": "nobody"},
            "reaper: REAPER_FORWARD: expected 'auto', 'group' or 'child', got 'nobody'\n",
        ),
        (["--what", "true"], {}, "reaper: --what: unknown option (see reaper --help)\n"),
        ([], {}, "reaper: missing COMMAND (see reaper --help)\n"),
        ([""], {}, "reaper: COMMAND is empty (see reaper --help)\n"),
        (
            ["--rewrite", "", "true"],
            {},
            "reaper: --rewrite: expected FROM:TO with signal names or numbers, TO may be 0, got ''\n",
        ),
        (
            ["--rewrite", ",", "true"],
            {},
            "reaper: --rewrite: expected FROM:TO with signal names or numbers, TO may be 0, got ''\n",
        ),
        (
            ["--grace", "1e300", "true"],
            {},
            "reaper: --grace: expected a number of seconds >= 0 and at most 1000000000, got '1e300'\n",
        ),
        (
            ["true"],
            {"REAPER_GRACE": "1e300"},
            "reaper: REAPER_GRACE: expected a number of seconds >= 0 and at most 1000000000, got '1e300'\n",
        ),
        (["--stop-delay", "x", "true"], {}, "reaper: --stop-delay: expected a number of seconds >= 0, got 'x'\n"),
        (
            ["true"],
            {"REAPER_STOP_DELAY": "-2"},
            "reaper: REAPER_STOP_DELAY: expected a number of seconds >= 0, got '-2'\n",
        ),
        (
            ["--exit-map", "143:256", "true"],
            {},
            "reaper: --exit-map: expected FROM:TO with exit statuses from 0 to 255, got '143:256'\n",
        ),
        (
            ["true"],
            {"REAPER_EXIT_MAP": "x"},
            "reaper: REAPER_EXIT_MAP: expected FROM:TO with exit statuses from 0 to 255, got 'x'\n",
        ),
        (["true"], {"REAPER_STOP_ALL": "maybe"}, "reaper: REAPER_STOP_ALL: expected 1 or 0, got 'maybe'\n"),
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
        "--stop-delay",
        "REAPER_STOP_DELAY",
        "--stop-all",
        "REAPER_STOP_ALL",
        "--exit-map",
        "REAPER_EXIT_MAP",
        "--user",
        "REAPER_USER",
        "--pdeathsig",
        "REAPER_PDEATHSIG",
        "--cpu-count",
        "REAPER_CPU_COUNT",
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


@pytest.mark.parametrize(
    "text",
    ["", "0", "65", "TERMINATE", "RTMIN-1", "RTMAX+1", "RTMIN+", "-15", "\u0661\u0665", "RTMIN+\u0663", "9" * 5000],
)
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


@pytest.mark.parametrize(
    ("args", "status", "line"),
    [
        (["-\n"], 2, "reaper: -\\n: unknown option (see reaper --help)\n"),
        (["--bad\rname"], 2, "reaper: --bad\\rname: unknown option (see reaper --help)\n"),
        (["no\nsuch-command"], 127, "reaper: no\\nsuch-command: No such file or directory\n"),
    ],
)
def test_a_name_given_by_the_user_never_splits_the_line_of_a_refusal(args, status, line):
    result = run([*REAPER, *args])
    assert (result.returncode, result.stderr) == (status, line)
