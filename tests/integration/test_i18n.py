"""The client speaks Japanese when the locale is Japanese (browser issue,
item 8, "Japanese first"): gettext with the `ja` catalogue built in
build/po, found through SEKISHO_LOCALEDIR. --json output, machine codes
and the broker's own messages do not depend on the locale; the broker's
"日本語 / English" messages show the half that fits on the terminal.

Japanese is selected as docs/client.md says: LANGUAGE=ja with
LANG=C.UTF-8 (C.UTF-8 is built into glibc, no `locales` package needed;
gettext ignores LANGUAGE only under the plain C locale)."""

import os
import re
import shutil
import subprocess
import unicodedata

import pytest

from approvals_fixtures import (  # noqa: F401  (fixtures)
    nginx, officer_pki, officers)
from conftest import (BUILD, EXIT_OK, EXIT_USAGE, REPO, SEKISHO,
                      need_binary, to_yaml)

LOCALEDIR = BUILD / "po"
CATALOGUE = LOCALEDIR / "ja" / "LC_MESSAGES" / "sekisho.mo"
JA_PO = REPO / "po" / "ja.po"

REGISTER = {
    "interfaces": [
        {"id": "IF-NODEF", "max_class": 2},
    ],
}

HELP_COMMANDS = ["put", "status", "whoami", "approvals", "exception",
                 "audit", "transfers", "withdraw", "policy"]

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def base_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LC_", "LANG", "SEKISHO_"))}
    env["SEKISHO_LOCALEDIR"] = str(LOCALEDIR)
    return env


def ja_env(env=None):
    env = dict(env if env is not None else base_env())
    for k in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        env.pop(k, None)
    env.update(LANG="C.UTF-8", LANGUAGE="ja")
    return env


def c_env(env=None):
    env = dict(env if env is not None else base_env())
    for k in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        env.pop(k, None)
    env.update(LC_ALL="C")
    return env


def columns(text):
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1
               for ch in text)


def run(env, *args):
    p = subprocess.run([str(SEKISHO), *map(str, args)], capture_output=True,
                       timeout=30, env=env)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


@pytest.fixture
def catalogue():
    need_binary(SEKISHO, "sekisho client")
    if not CATALOGUE.exists():
        pytest.fail(f"{CATALOGUE} was not built (is gettext installed?)")


def options_of(text):
    return set(re.findall(r"--[a-z][a-z-]*", text))


def test_help_is_japanese_under_a_japanese_locale(catalogue):
    for args in (["help"], ["--help"]):
        rc, out, err = run(ja_env(), *args)
        assert rc == 0, err
        assert out.startswith("使い方: sekisho"), out
        assert "コマンド:" in out and "終了コード:" in out, out
        assert "usage:" not in out, out
        rc, en, err = run(c_env(), *args)
        assert rc == 0, err
        assert en.startswith("usage: sekisho"), en
        assert "Commands:" in en, en
        # Only the names 関所 and 例外措置 are Japanese in the English help.
        assert set(JAPANESE.findall(en)) <= set("関所例外措置"), en
        assert options_of(out) == options_of(en)


def test_every_command_help_is_translated(catalogue):
    for cmd in HELP_COMMANDS:
        rc, out, err = run(ja_env(), "help", cmd)
        assert rc == 0, (cmd, err)
        assert out.startswith("使い方: sekisho"), (cmd, out)
        rc, en, err = run(c_env(), "help", cmd)
        assert en.startswith("usage: sekisho"), (cmd, en)
        # The translation names the same options as the English text.
        assert options_of(out) == options_of(en), cmd


def test_usage_errors_are_japanese_and_json_is_not(catalogue, tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("x")
    cases = [
        (["put", f, "--to", "IF-X", "--class", "9"],
         "機密性は 1、2、3 のいずれかです", "the classification is 1, 2 or 3"),
        (["put", f], "put には --to INTERFACE", "put needs --to INTERFACE"),
        (["status", "12"], "転送IDではありません", "is not a transfer id"),
        (["frobnicate"], "不明なコマンド", "unknown command"),
    ]
    for args, ja, en in cases:
        rc, out, err = run(ja_env(), *args)
        assert rc == EXIT_USAGE, (args, err)
        assert ja in err and "sekisho --help を参照" in err, (args, err)
        rc, out, err = run(c_env(), *args)
        assert rc == EXIT_USAGE, (args, err)
        assert en in err and JAPANESE.search(err) is None, (args, err)
        # --json: the same bytes whatever the language.
        j_ja = run(ja_env(), *args, "--json")
        j_c = run(c_env(), *args, "--json")
        assert j_ja[1] == j_c[1] and j_ja[1].startswith('{"error":'), \
            (args, j_ja, j_c)
        assert en in j_ja[1], j_ja


def test_configuration_errors_in_japanese_and_json_unchanged(catalogue,
                                                           tmp_path):
    env = dict(base_env(), HOME=str(tmp_path))
    env.pop("XDG_CONFIG_HOME", None)
    rc, out, err = run(ja_env(env), "whoami")
    assert rc == 2, err
    assert "設定がありません:" in err and "--config FILE を指定してください" \
        in err, err
    rc, out, err = run(c_env(env), "whoami")
    assert "no configuration:" in err, err
    assert run(ja_env(env), "whoami", "--json")[:2] == \
        run(c_env(env), "whoami", "--json")[:2]
    rc, out, err = run(ja_env(env), "whoami", "--timeout", "0")
    assert rc == EXIT_USAGE and "1〜3600 秒で指定してください" in err, err
    cfg = tmp_path / "c.yaml"
    cfg.write_text("broker: localhost\nca: a\ncert: b\nkey: c\n")
    rc, out, err = run(ja_env(env), "--config", cfg, "whoami")
    assert rc == 2 and "ホスト:ポート の形で指定してください" in err, err
    assert run(ja_env(env), "--config", cfg, "whoami", "--json")[:2] == \
        run(c_env(env), "--config", cfg, "whoami", "--json")[:2]


def test_missing_file_in_japanese_and_json_unchanged(catalogue, tmp_path):
    """The file is opened before any connection: the configuration only
    has to name files. strerror stays English (it also reaches --json,
    and libc's catalogue may be installed)."""
    for name in ("ca.crt", "user.crt", "user.key"):
        (tmp_path / name).write_text("")
    (tmp_path / "user.key").chmod(0o600)
    cfg = tmp_path / "client.yaml"
    cfg.write_text(f"broker: 127.0.0.1:1\nca: {tmp_path}/ca.crt\n"
                   f"cert: {tmp_path}/user.crt\nkey: {tmp_path}/user.key\n")
    args = ["--config", cfg, "put", tmp_path / "missing.pdf", "--to",
            "IF-X", "--class", "1"]
    rc, out, err = run(ja_env(), *args)
    assert rc == 2, err
    assert "missing.pdf を開けません: No such file or directory" in err, err
    rc, out, err = run(c_env(), *args)
    assert "cannot open " in err and "No such file" in err, err
    j_ja = run(ja_env(), *args, "--json")
    j_c = run(c_env(), *args, "--json")
    assert j_ja[:2] == j_c[:2], (j_ja, j_c)
    assert '"code":"file"' in j_c[1] and "No such file" in j_c[1], j_c


def test_refused_put_and_results_in_japanese(catalogue, broker, client,
                                             tmp_path):
    b = broker(register=REGISTER)
    c = client(b)
    f = tmp_path / "a.txt"
    f.write_bytes(b"hello")
    put = ("put", f, "--to", "IF-NODEF", "--purpose", "i18n")

    c.env = ja_env(c.env)
    c.env["SEKISHO_LOCALEDIR"] = str(LOCALEDIR)
    rc, out, err = c.run(*put)
    assert rc == EXIT_USAGE, (rc, out, err)
    # The client's wording and the Japanese half of the broker's message.
    assert "ブローカーのエラー (class_required、項目 class)" in err, err
    assert "機密性の分類が指定されていません" in err, err
    assert "the put names no classification" not in err, err
    rc_ja, json_ja, _ = c.run(*put, "--json")

    rc, out, err = c.run(*put, "--class", "1")
    assert rc == 0, err
    assert out.startswith("受付済み ") and "5 バイト" in out, out
    transfer = out.split()[1]
    rc, st_ja, err = c.run("status", transfer)
    assert rc == 0, err
    assert re.search(r"^状態\s+\S+", st_ja, re.M), st_ja
    assert re.search(r"^機密性\s+1$", st_ja, re.M), st_ja
    rc, who_ja, err = c.run("whoami")
    assert rc == 0 and who_ja.startswith("利用者 "), (who_ja, err)
    status_json_ja = c.run("status", transfer, "--json")
    whoami_json_ja = c.run("whoami", "--json")

    c.env = c_env(c.env)
    rc, out, err = c.run(*put)
    assert rc == EXIT_USAGE, (rc, out, err)
    assert "broker error (class_required, field class)" in err, err
    assert "the put names no classification" in err, err
    assert JAPANESE.search(err) is None, err
    rc_c, json_c, _ = c.run(*put, "--json")
    assert (rc_ja, json_ja) == (rc_c, json_c)
    # The JSON keeps the broker's whole message.
    assert "機密性の分類" in json_c and "the put names" in json_c, json_c
    rc, st_c, err = c.run("status", transfer)
    assert re.search(r"^class\s+1$", st_c, re.M), st_c
    assert c.run("status", transfer, "--json") == status_json_ja
    assert c.run("whoami", "--json") == whoami_json_ja


def test_officer_output_in_japanese(catalogue, officers, tmp_path):
    o = officers()
    f = tmp_path / "申請書.pdf"
    f.write_bytes(b"%PDF-1.4 held\n")
    put = o.put("u-staff", f, "IF-HOLD", cls=2)
    tid = put["transfer"]
    off = o.clients["u-off1"]
    off.env = ja_env(off.env)
    off.env["SEKISHO_LOCALEDIR"] = str(LOCALEDIR)
    rc, out, err = o.run("u-off1", "approvals", "ls", otp=True)
    assert rc == EXIT_OK, err
    # Labels in Japanese, aligned on the terminal's columns; values and
    # machine codes as they are.
    assert re.search(r"^利用者\s+u-staff$", out, re.M), out
    assert re.search(r"^承認グループ\s+approvers-somu$", out, re.M), out
    assert re.search(r"^判断済み\s+いいえ$", out, re.M), out
    # Every value starts in the same terminal column (CJK: two columns).
    starts = {columns(re.match(r"^\S+\s+", line).group(0))
              for line in out.splitlines() if line.strip()}
    assert starts == {14}, out
    rc, out, err = o.run("u-off1", "approvals", "approve", tid, otp=True)
    assert rc == EXIT_OK, err
    assert out.startswith(f"承認しました {tid}: "), out
    assert "(承認 1 / 1 件)" in out, out


def xgettext_args():
    """The xgettext options po/meson.build gives, so the test extracts
    exactly what `ninja sekisho-pot` would."""
    text = (REPO / "po" / "meson.build").read_text()
    return re.findall(r"'(--[^']+)'", text)


def test_catalogue_translates_every_message(tmp_path):
    for tool in ("xgettext", "msgfmt", "msgcmp"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} missing: install gettext "
                        "(deploy/install-deps.sh)")
    files = (REPO / "po" / "POTFILES").read_text().split()
    # Every client source with marked strings is listed in POTFILES.
    for src in sorted((REPO / "client").glob("*.c")):
        rel = f"client/{src.name}"
        if re.search(r"\b(?:N_|_|P_)\(", src.read_text()):
            assert rel in files, f"{rel} has messages but is not in " \
                "po/POTFILES"
    pot = tmp_path / "sekisho.pot"
    r = subprocess.run(["xgettext", *xgettext_args(), "-D", str(REPO),
                        "-o", str(pot), *files], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    # msgcmp counts untranslated and fuzzy entries as missing.
    r = subprocess.run(["msgcmp", str(JA_PO), str(pot)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, "po/ja.po lacks translations:\n" + r.stderr
    r = subprocess.run(["msgfmt", "--check", "--statistics", "-o",
                        os.devnull, str(JA_PO)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "untranslated" not in r.stderr and "fuzzy" not in r.stderr, \
        r.stderr


# --- the connection, the key, one-time codes, resume state, audit verify,
# policy explain: each module's own messages in Japanese, the --json
# output the same bytes in every language.

def run_detached(env, *args):
    """run() without a controlling terminal (nothing to ask on)."""
    p = subprocess.run([str(SEKISHO), *map(str, args)], capture_output=True,
                       timeout=30, env=env, stdin=subprocess.DEVNULL,
                       start_new_session=True)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def both_languages(args, rc, ja, en, env=None, json_out=True, json_en=None):
    """Runs args in Japanese and in the C locale: the Japanese text has
    every string of ja, the English one every string of en and no
    Japanese; with --json both print the same bytes, which carry the
    English message (json_en, by default en[0]). Returns the Japanese
    stderr."""
    got, out, err_ja = run_detached(ja_env(env), *args)
    assert got == rc, (args, got, err_ja)
    for s in ja:
        assert s in err_ja, (args, s, err_ja)
    got, out, err_c = run_detached(c_env(env), *args)
    assert got == rc, (args, got, err_c)
    for s in en:
        assert s in err_c, (args, s, err_c)
    assert JAPANESE.search(err_c) is None, (args, err_c)
    if json_out:
        j_ja = run_detached(ja_env(env), *args, "--json")
        j_c = run_detached(c_env(env), *args, "--json")
        assert j_ja[:2] == j_c[:2], (args, j_ja, j_c)
        assert (json_en or en[0]) in j_c[1], (args, j_c)
    return err_ja


def offline_config(tmp_path, pki, **changes):
    """A configuration with alice's real certificate and key and a broker
    address where nothing listens: everything up to the connection is
    real."""
    cert, key = pki.alice()
    own = tmp_path / "alice.key"
    own.write_bytes(key.read_bytes())
    own.chmod(0o600)
    settings = {"broker": "127.0.0.1:1", "server_name": "localhost",
                "ca": str(pki.ca), "cert": str(cert), "key": str(own)}
    settings.update({k: str(v) for k, v in changes.items()})
    cfg = tmp_path / "client.yaml"
    cfg.write_text("".join(f"{k}: {v}\n" for k, v in settings.items()))
    return cfg


def test_connection_errors_in_japanese(catalogue, pki, tmp_path):
    """client/conn.c: a CA path that does not exist, a CA file that holds
    no certificate, a broker that does not answer."""
    missing = tmp_path / "none.crt"
    cfg = offline_config(tmp_path, pki, ca=missing)
    # --json keeps the terse "SETTING PATH: reason" it always had.
    both_languages(["--config", cfg, "whoami"], 2,
                   [f"CA 証明書 {missing} を読めません",
                    "設定の ca を確認してください"],
                   [f"cannot read the CA certificate {missing} (No such "
                    "file or directory); check ca in the configuration"],
                   json_en=f"ca {missing}: No such file or directory")
    junk = tmp_path / "junk.crt"
    junk.write_text("not a certificate\n")
    cfg = offline_config(tmp_path, pki, ca=junk)
    both_languages(["--config", cfg, "whoami"], 2,
                   ["CA 証明書を読み込めません"],
                   [f"ca {junk}: cannot load CA certificates"])
    cfg = offline_config(tmp_path, pki)
    both_languages(["--config", cfg, "whoami"], 3,
                   ["ブローカー 127.0.0.1:1 に接続できません",
                    "Connection refused"],
                   ["cannot connect to broker 127.0.0.1:1: Connection "
                    "refused"])


def test_key_errors_in_japanese(catalogue, pki, tmp_path):
    """client/keyload.c: a key others can read, an encrypted key with no
    passphrase and no terminal, a wrong passphrase, a passphrase file
    others can read."""
    from test_client_key import encrypted_copy

    cfg = offline_config(tmp_path, pki)
    loose = tmp_path / "alice.key"
    loose.chmod(0o644)
    both_languages(["--config", cfg, "whoami"], 2,
                   [f"秘密鍵 {loose} は権限 0644 で", "chmod 600"],
                   [f"key {loose}: mode 0644 lets group or others access "
                    "it; chmod 600 it"])
    enc = encrypted_copy(pki, tmp_path)
    cfg = offline_config(tmp_path, pki, key=enc)
    both_languages(["--config", cfg, "whoami"], 2,
                   ["パスフレーズを尋ねる端末がありません",
                    "--key-passphrase-file FILE"],
                   ["the key is encrypted and there is no terminal to ask "
                    "for its passphrase on"])
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    wrong.chmod(0o600)
    both_languages(["--config", cfg, "--key-passphrase-file", wrong,
                    "whoami"], 2,
                   [f"秘密鍵 {enc}: パスフレーズが違います"],
                   [f"key {enc}: wrong passphrase"])
    wrong.chmod(0o640)
    both_languages(["--config", cfg, "--key-passphrase-file", wrong,
                    "whoami"], 2,
                   [f"パスフレーズファイル {wrong} は権限 0640 で",
                    "chmod 600"],
                   [f"key passphrase file {wrong}: mode 0640"])


def test_resume_state_problem_in_japanese(catalogue, pki, tmp_path):
    """client/resume.c: a state directory that is a file cannot be read.
    A warning only: the upload goes on (and fails here on the
    connection)."""
    f = tmp_path / "a.txt"
    f.write_text("x")
    cfg = offline_config(tmp_path, pki)
    put = ["--config", cfg, "put", f, "--to", "IF-X", "--class", "1",
           "--retries", "0"]
    state = tmp_path / "state"
    (state / "sekisho").mkdir(parents=True)
    (state / "sekisho" / "uploads").write_text("not a directory\n")
    env = dict(base_env(), XDG_STATE_HOME=str(state))
    err = both_languages(put, 3,
                         ["警告: 再開用の情報を使いません:",
                          "を読み取れません: Not a directory",
                          "ブローカー 127.0.0.1:1 に接続できません"],
                         ["warning: ignoring resume state: cannot read ",
                          ": Not a directory"],
                         env=env, json_out=False)
    # The warning is for the terminal; --json has the failure only.
    j_ja = run_detached(ja_env(env), *put, "--json")
    j_c = run_detached(c_env(env), *put, "--json")
    assert j_ja[:2] == j_c[:2] and '"code":"connection"' in j_c[1], j_c


def test_broker_certificate_and_one_time_code_in_japanese(
        catalogue, broker, client, tmp_path):
    """client/conn.c with a real broker: its certificate does not name the
    server_name configured. client/otp.c: a --otp that is not a code."""
    b = broker(register=REGISTER)
    c = client(b)
    base = dict(c.env, SEKISHO_LOCALEDIR=str(LOCALEDIR))
    f = tmp_path / "a.txt"
    f.write_bytes(b"hello")
    rc, obj, err = c.json("put", f, "--to", "IF-NODEF", "--class", "1")
    assert rc == 0, err
    tid = obj["transfer"]
    both_languages(["--config", c.config, "approvals", "approve", tid,
                    "--otp", "12ab"], 2,
                   ["ワンタイムコードは 6 桁の数字です"],
                   ["a one-time code is 6 digits"], env=base)
    c.write_config(server_name="wrong.example")
    both_languages(["--config", c.config, "whoami"], 3,
                   ["ブローカーの証明書を受け入れられません",
                    "期待する名前 wrong.example",
                    "設定の server_name と ca を確認してください"],
                   ["broker certificate rejected: ",
                    "(expected name wrong.example, CA "], env=base)


def test_audit_verify_details_in_japanese(catalogue, tmp_path):
    """client/auditverify.c: a pulled directory whose checkpoint is not
    signed by the key given, and one with no checkpoint at all."""
    from audit_fixtures import EXIT_INVALID, keygen

    _, pub = keygen(tmp_path / "keys")
    d = tmp_path / "pulled"
    d.mkdir()
    (d / "checkpoint.note").write_text("not a checkpoint\n")
    err = both_languages(["audit", "verify", d, "--key", pub], EXIT_INVALID,
                         ["検証に失敗しました (bad signature)",
                          "で署名されたチェックポイントではありません",
                          "取得し直してください"],
                         [f"{d}/checkpoint.note is not a checkpoint signed "
                          "by the key other.example/sekisho-audit"],
                         json_out=False)
    assert "is not a checkpoint" not in err, err
    j_ja = run_detached(ja_env(), "audit", "verify", d, "--key", pub,
                        "--json")
    j_c = run_detached(c_env(), "audit", "verify", d, "--key", pub,
                       "--json")
    assert j_ja[:2] == j_c[:2], (j_ja, j_c)
    assert '"fault":"bad signature"' in j_c[1] and \
        "is not a checkpoint signed" in j_c[1], j_c
    empty = tmp_path / "empty"
    empty.mkdir()
    both_languages(["audit", "verify", empty, "--key", pub], 2,
                   [f"{empty}/checkpoint.note を読み取れません"],
                   [f"{empty}/checkpoint.note: No such file or directory"])


def test_policy_explain_in_japanese(catalogue, tmp_path):
    """client/explain.c: the headings of the trace are Japanese, the
    values (verdict, code, rule, user=...) stay as they are."""
    reg = tmp_path / "register.yaml"
    reg.write_text(to_yaml(REGISTER))
    args = ["policy", "explain", "--register", reg, "--user", "u1",
            "--to", "IF-NODEF", "--class", "1"]
    rc, out, err = run(ja_env(), *args)
    rc_c, out_c, err_c = run(c_env(), *args)
    assert rc == rc_c, (err, err_c)
    assert re.search(r"^verdict   \S+$", out_c, re.M), out_c
    verdict = re.search(r"^verdict   (\S+)$", out_c, re.M).group(1)
    assert re.search(rf"^判定\s+{verdict}$", out, re.M), out
    assert re.search(r"^要求\s+user=u1 to=IF-NODEF class=1 ", out, re.M), out
    assert "判断の経過:" in out and "chain:" in out_c, out
    assert not re.search(r"^(verdict|request|chain:)", out, re.M), out
    assert JAPANESE.search(out_c) is None, out_c
    # Every value starts in the same terminal column.
    starts = {columns(re.match(r"^\S+\s+", line).group(0))
              for line in out.splitlines()
              if line.strip() and not line.startswith(" ") and
              not line.endswith(":")}
    assert len(starts) == 1, out
    rc, out, err = run(ja_env(), "policy", "explain", "--to", "IF-X")
    assert rc == EXIT_USAGE, err
    assert "--user と --to が必要です" in err and \
        "sekisho help policy を参照" in err, err
    rc, out, err = run(c_env(), "policy", "explain", "--to", "IF-X")
    assert "policy explain needs --user and --to" in err, err
