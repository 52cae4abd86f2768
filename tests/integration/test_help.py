"""Help text that a newcomer reads (issue 9, item 21): every command named
in `sekisho help` has help, every option a help text describes is in its
usage lines, and every tool says its version."""

import re
import subprocess

import pytest

from conftest import PKI_TOOL, SEKISHO, SEKISHOD, need_binary

REPO_VERSION_RE = re.compile(r"version\s*:\s*'([0-9.]+)'")


def run(*cmd):
    return subprocess.run([str(c) for c in cmd], capture_output=True,
                          text=True, timeout=30)


def project_version():
    text = (PKI_TOOL.parents[1] / "meson.build").read_text()
    return REPO_VERSION_RE.search(text).group(1)


def usage_and_options(text):
    """The usage lines (from "usage:" to the first empty line) and the
    long options the rest of the text describes (lines that start with
    an option after the indentation)."""
    lines = text.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("usage:"))
    end = start
    while end < len(lines) and lines[end].strip():
        end += 1
    usage = "\n".join(lines[start:end])
    described = set()
    for line in lines[end:]:
        m = re.match(r"^\s+(?:-[A-Za-z], )?(--[a-z][a-z-]*)", line)
        if m:
            described.add(m.group(1))
        m = re.match(r"^-[A-Za-z], (--[a-z][a-z-]*)", line)
        if m:
            described.add(m.group(1))
    described.discard("--help")
    return usage, described


def assert_usage_names_every_option(text, skip=()):
    usage, described = usage_and_options(text)
    missing = sorted(o for o in described - set(skip)
                     if not re.search(re.escape(o) + r"\b", usage))
    assert not missing, f"options described but not in the usage lines: " \
        f"{missing}\n{usage}"


def test_sekisho_help_audit_is_the_audit_help():
    need_binary(SEKISHO, "sekisho")
    r = run(SEKISHO, "help", "audit")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: sekisho audit pull")
    assert "unknown command" not in r.stderr
    r2 = run(SEKISHO, "audit", "--help")
    assert r2.stdout == r.stdout


def test_sekisho_help_names_only_commands_that_have_help():
    need_binary(SEKISHO, "sekisho")
    text = run(SEKISHO, "help").stdout
    for cmd in re.findall(r"sekisho help (\w+)", text):
        r = run(SEKISHO, "help", cmd)
        assert r.returncode == 0, (cmd, r.stderr)


@pytest.mark.parametrize("cmd", [["put"], ["approvals"], ["exception"],
                                 ["status"], ["whoami"], ["transfers"],
                                 ["withdraw"]])
def test_sekisho_usage_lines_name_every_option(cmd):
    need_binary(SEKISHO, "sekisho")
    r = run(SEKISHO, "help", *cmd)
    assert r.returncode == 0, r.stderr
    # --until and --groups are on the same lines as --from and --users.
    assert_usage_names_every_option(r.stdout)


def test_sekishod_usage_lines_name_every_option():
    need_binary(SEKISHOD, "sekishod")
    r = run(SEKISHOD, "--help")
    assert r.returncode == 0, r.stderr
    assert_usage_names_every_option(r.stdout, skip=("--config",))
    usage, _ = usage_and_options(r.stdout)
    assert "--audit-keygen" in usage and "-V" in usage


@pytest.mark.parametrize("cmd", [[], ["init"], ["server"], ["user"],
                                 ["revoke"], ["crl"]])
def test_pki_usage_lines_name_every_option(cmd):
    r = run(PKI_TOOL, *cmd, "--help")
    assert r.returncode == 0, r.stderr
    assert_usage_names_every_option(r.stdout)


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_pki_version(flag):
    r = run(PKI_TOOL, flag)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"sekisho-pki {project_version()}\n"
    assert "--version" in run(PKI_TOOL, "--help").stdout


def test_every_tool_says_the_same_version():
    need_binary(SEKISHO, "sekisho")
    need_binary(SEKISHOD, "sekishod")
    v = project_version()
    assert run(SEKISHO, "--version").stdout.startswith(f"sekisho {v} ")
    assert v in run(SEKISHOD, "--version").stdout
    assert run(PKI_TOOL, "--version").stdout == f"sekisho-pki {v}\n"
