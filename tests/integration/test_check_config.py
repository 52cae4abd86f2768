"""--check-config and the start run the same checks: a configuration that
--check-config calls valid starts, and one the start refuses is refused by
--check-config with the same reason. Relative paths are relative to the
configuration file, whatever the working directory and however the file
was named on the command line."""

import os
import pathlib
import subprocess

from conftest import SEKISHOD


def notify_script(d):
    s = d / "notify-cmd.sh"
    s.write_text("#!/bin/sh\ncat >/dev/null\n")
    os.chmod(s, 0o755)
    return s


def run_sekishod(cwd, *args, timeout=30):
    return subprocess.run([str(SEKISHOD), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def test_relative_notify_command_is_relative_to_the_config(broker,
                                                           tmp_path):
    b = broker(start=False, extra={"notify": {"command":
                                              "./notify-cmd.sh"}})
    notify_script(b.dir)
    # As an operator types it: from the configuration's directory, with a
    # relative -c; and from elsewhere.
    for cwd, cfg in ((b.dir, "sekishod.yaml"),
                     (tmp_path, os.path.relpath(b.config, tmp_path)),
                     ("/", b.config)):
        chk = run_sekishod(cwd, "-c", cfg, "--check-config")
        assert chk.returncode == 0, (cwd, chk.stderr)
    # Started the same way: a relative -c in the configuration's
    # directory (conftest starts sekishod with cwd set to it).
    b.config = pathlib.Path("sekishod.yaml")
    b.start()
    assert "must be an absolute path" not in b.log_text()


def test_what_the_start_refuses_check_config_refuses(broker, tmp_path):
    """A notify command that is not executable passed --check-config and
    stopped the start."""
    b = broker(start=False, extra={"notify": {"command":
                                              "notify-cmd.sh"}})
    s = notify_script(b.dir)
    os.chmod(s, 0o644)
    chk = b.check_config()
    assert chk.returncode == 1, chk
    assert "notify" in chk.stderr and "executable" in chk.stderr, chk.stderr
    try:
        b.start()
        raise AssertionError("started with a notify command it cannot run")
    except RuntimeError as e:
        assert "executable" in str(e), str(e)
    os.chmod(s, 0o755)
    assert b.check_config().returncode == 0
    b.start()
