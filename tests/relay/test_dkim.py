"""DKIM signing of outgoing mail: the remote sees a signature that dkimpy verifies against the
DNS record `securemail dkim generate` prints."""

import dkim
import pytest

from securemail.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from securemail.mailauth import dkim_sign
from securemail.services.policy import PolicyService
from securemail.store.repos.policy import DkimKey
from tests.relay.conftest import DOMAIN, ORG, REMOTE, World, message, serve_sink

BOB = f"bob@{REMOTE}"


def dns_of(*keys: DkimKey):  # type: ignore[no-untyped-def]
    """dkimpy's DNS hook: asks with bytes and a trailing dot (STACK.md gotcha 6)."""
    records = {
        f"{dkim_sign.record_name(k.selector, k.domain)}.".encode(): dkim_sign.record_value(
            k.public_key
        ).encode()
        for k in keys
    }

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return records.get(name)

    return lookup


async def install(world: World, selector: str = "s1", domain: str = DOMAIN) -> DkimKey:
    pair = dkim_sign.generate_key()
    return await PolicyService(world.services.deps).install_dkim_key(
        world.system,
        domain,
        selector=selector,
        private_key_pem=pair.private_pem,
        public_key_b64=pair.public_b64,
    )


async def test_outgoing_mail_carries_a_verifiable_signature(world: World) -> None:
    key = await install(world)
    async with serve_sink() as sink:
        await world.enqueue(message(), [BOB])
        assert await world.worker(sink.port).run_once() == 1
    [received] = sink.handler.messages
    signature = received.message["DKIM-Signature"]
    tags = dict(t.strip().split("=", 1) for t in str(signature).replace(" ", "").split(";") if t)
    assert (tags["d"], tags["s"], tags["a"], tags["c"]) == (
        DOMAIN,
        "s1",
        "rsa-sha256",
        "relaxed/relaxed",
    )
    assert tags["h"].lower().split(":").count("from") == 2  # oversigned: no From: can be added
    assert dkim.verify(received.content, dnsfunc=dns_of(key))
    tampered = received.content.replace(b"Subject: Case 42", b"Subject: Case 43")
    assert not dkim.verify(tampered, dnsfunc=dns_of(key))


async def test_a_message_with_bare_newlines_still_verifies_after_transit(world: World) -> None:
    """SMTP turns bare LF into CRLF; the signature must cover what the receiver gets."""
    key = await install(world)
    async with serve_sink() as sink:
        await world.enqueue(message(body="line one\r\nline two").replace(b"\r\n", b"\n"), [BOB])
        assert await world.worker(sink.port).run_once() == 1
    assert dkim.verify(sink.handler.messages[0].content, dnsfunc=dns_of(key))


async def test_without_a_key_mail_leaves_unsigned(world: World) -> None:
    async with serve_sink() as sink:
        await world.enqueue(message(), [BOB])
        assert await world.worker(sink.port).run_once() == 1
    assert sink.handler.messages[0].message["DKIM-Signature"] is None


async def test_rotation_signs_with_the_new_key(world: World) -> None:
    old = await install(world, "s1")
    new = await install(world, "s2")
    async with serve_sink() as sink:
        await world.enqueue(message(), [BOB])
        assert await world.worker(sink.port).run_once() == 1
    content = sink.handler.messages[0].content
    assert b"s=s2;" in content.replace(b" ", b"")
    assert dkim.verify(content, dnsfunc=dns_of(old, new))
    keys = await PolicyService(world.services.deps).list_dkim_keys(world.system)
    assert [(k.selector, k.active) for k in keys] == [("s1", False), ("s2", True)]


async def test_dkim_keys_are_for_administrators_of_the_domain(world: World) -> None:
    policy = PolicyService(world.services.deps)
    pair = dkim_sign.generate_key()

    async def install_as(ctx, domain: str = DOMAIN, selector: str = "s9"):  # type: ignore[no-untyped-def]
        return await policy.install_dkim_key(
            ctx,
            domain,
            selector=selector,
            private_key_pem=pair.private_pem,
            public_key_b64=pair.public_b64,
        )

    await world.services.directory.create_org(world.system, "Other Org", "other.example")
    admin, _ = await world.services.directory.create_user(
        world.system, "admin@other.example", admin=True, password="long enough pw"
    )
    other_admin = await world.services.auth.context_for(admin.id, channel="test")
    with pytest.raises(PermissionDenied):
        await install_as(world.sender)
    with pytest.raises(NotFound):
        await install_as(other_admin)
    with pytest.raises(InvalidInput):
        await install_as(world.system, selector="bad selector")
    assert (await install_as(other_admin, "other.example")).domain == "other.example"
    with pytest.raises(Conflict):
        await install_as(other_admin, "other.example")
    assert [k.domain for k in await policy.list_dkim_keys(other_admin)] == ["other.example"]
    entries = await world.services.audit.list_entries(world.system)
    assert [(e.action, e.target) for e in entries if e.action == "dkim.key.install"] == [
        ("dkim.key.install", "other.example")
    ]
    assert await policy.list_dkim_keys(world.system, ORG) == []  # refused attempts left nothing
