"""The outbound verbs of `securemail`: dkim generate/list, policy tls-required, queue list."""

import asyncio
import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from securemail import app
from securemail.cli import main
from securemail.store.repos import queue as queue_repo
from tests.conftest import TestStore

ORG = "Police Research Institute"


@pytest.fixture
def cli(store: TestStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run one `securemail` command in process; returns (exit code, stdout, stderr)."""
    for name, value in store.env.items():
        monkeypatch.setenv(name, value)

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    assert run("org", "create", ORG, "--domain", "polres.co.uk")[0] == 0
    return run


def test_dkim_generate_prints_the_dns_record(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _err = cli("dkim", "generate", "polres.co.uk")
    assert code == 0
    lines = dict(
        line.split(":", 1) for line in out.splitlines() if line[:6] in ("name: ", "value:")
    )
    name, value = lines["name"].strip(), lines["value"].strip()
    assert name.startswith("securemail-") and name.endswith("._domainkey.polres.co.uk")
    assert value.startswith("v=DKIM1; k=rsa; p=")
    key = load_der_public_key(base64.b64decode(value.split("p=", 1)[1]))
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
    zone = next(line for line in out.splitlines() if line.startswith("zone:"))
    assert f"{name}. IN TXT" in zone  # split into <= 255-octet strings for a zone file


def test_dkim_rotation_and_list(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("dkim", "generate", "polres.co.uk", "--selector", "s1")[0] == 0
    code, out, _ = cli("dkim", "generate", "polres.co.uk", "--selector", "s2", "--json")
    assert code == 0
    assert json.loads(out)["record_name"] == "s2._domainkey.polres.co.uk"
    code, out, _ = cli("dkim", "list", "--json")
    assert [(k["selector"], k["active"]) for k in json.loads(out)] == [("s1", False), ("s2", True)]
    assert "private" not in out.lower()


def test_dkim_generate_bad_input_exits_2(cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("dkim", "generate", "unknown.example")
    assert (code, out) == (2, "")
    assert err.strip() == "securemail: no mail domain unknown.example"
    assert cli("dkim", "generate", "polres.co.uk", "--selector", "a b")[0] == 2


def test_policy_tls_required_add_list_remove(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("policy", "tls-required", "add", ORG, "cps.gov.uk")[0] == 0
    assert cli("policy", "tls-required", "add", ORG, "remote.test")[0] == 0
    code, out, _ = cli("policy", "tls-required", "list", ORG, "--json")
    assert (code, json.loads(out)) == (0, ["cps.gov.uk", "remote.test"])
    assert cli("policy", "tls-required", "remove", ORG, "cps.gov.uk")[0] == 0
    code, out, _ = cli("policy", "tls-required", "list", ORG)
    assert out.split() == ["remote.test"]
    code, _out, err = cli("policy", "tls-required", "add", "No Such Org", "x.test")
    assert code == 2 and err.count("\n") == 1
    assert cli("policy", "tls-required", "add", ORG, "cps.gov.uk", "extra")[0] == 2


def test_queue_list(cli, store: TestStore) -> None:  # type: ignore[no-untyped-def]
    async def enqueue() -> None:
        runtime = app.build(store.settings)
        try:
            async with runtime.db.write() as conn:
                await queue_repo.enqueue(
                    conn,
                    org_id=1,
                    sender="alice@polres.co.uk",
                    recipients=["bob@remote.test"],
                    blob_id="a" * 64,
                    size=100,
                )
        finally:
            await runtime.close()

    code, out, _ = cli("queue", "list", "--json")
    assert (code, json.loads(out)) == (0, [])
    asyncio.run(enqueue())
    code, out, _ = cli("queue", "list", "--json")
    [row] = json.loads(out)
    assert (row["status"], row["recipient"], row["attempts"]) == ("queued", "bob@remote.test", 0)
    code, out, _ = cli("queue", "list")
    assert "bob@remote.test" in out and out.startswith("ID")
    assert cli("queue", "list", "--status", "sent")[1].count("\n") == 1  # the header only
    assert cli("queue", "list", "--status", "lost")[0] == 2
