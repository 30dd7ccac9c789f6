"""Web sessions: the second factor (TOTP without replay, one-time recovery codes), idle
expiry, and ending sessions."""

import time

import pyotp
import pytest

from securemail.core.context import AccessContext, system_context
from securemail.core.errors import AuthenticationFailed, NotFound
from securemail.services.demo import DEMO_DOMAIN, DemoResult, load_demo
from securemail.services.registry import Services

ALICE = f"alice@{DEMO_DOMAIN}"


@pytest.fixture
async def demo(services: Services) -> DemoResult:
    return await load_demo(services, system_context("test"))


async def enrol(services: Services, ctx: AccessContext) -> pyotp.TOTP:
    secret, _uri = services.credentials.begin_totp(ctx)
    totp = pyotp.TOTP(secret)
    # enrolment proves the app with the previous step's code (inside the drift window)
    await services.credentials.confirm_totp(ctx, secret, totp.at(time.time() - 30))
    return totp


async def login(services: Services, demo: DemoResult) -> str:
    token, session = await services.sessions.login(
        ALICE, demo.passwords[ALICE], remote="127.0.0.1", user_agent="test"
    )
    assert session.stage == "second-factor"
    return token


async def test_a_totp_code_works_once(services: Services, demo: DemoResult) -> None:
    ctx = await services.auth.authenticate(ALICE, demo.passwords[ALICE], channel="test")
    totp = await enrol(services, ctx)
    first = await login(services, demo)
    assert (await services.sessions.resolve(first))[0] is None  # nothing before the code
    code = totp.now()
    await services.sessions.second_factor(first, code, remote="127.0.0.1")
    resolved, session = await services.sessions.resolve(first)
    assert resolved is not None and resolved.address == ALICE and session.stage == "active"
    # the same code, still inside its 30 s window, is refused the second time
    second = await login(services, demo)
    with pytest.raises(AuthenticationFailed):
        await services.sessions.second_factor(second, code, remote="127.0.0.1")
    with pytest.raises(AuthenticationFailed):  # and the waiting session is gone
        await services.sessions.resolve(second)
    entries = await services.audit.list_entries(system_context("test"), limit=10)
    assert any(e.action == "login.failed" and "second factor" in e.detail for e in entries)


async def test_recovery_codes_work_once_and_are_replaced(
    services: Services, demo: DemoResult
) -> None:
    ctx = await services.auth.authenticate(ALICE, demo.passwords[ALICE], channel="test")
    await enrol(services, ctx)
    codes = await services.sessions.new_recovery_codes(ctx)
    assert len(set(codes)) == 10
    assert await services.sessions.recovery_codes_left(ctx) == 10
    token = await login(services, demo)
    await services.sessions.second_factor(token, codes[0], remote="127.0.0.1")
    assert (await services.sessions.resolve(token))[0] is not None
    assert await services.sessions.recovery_codes_left(ctx) == 9
    again = await login(services, demo)
    with pytest.raises(AuthenticationFailed):
        await services.sessions.second_factor(again, codes[0], remote="127.0.0.1")
    fresh = await services.sessions.new_recovery_codes(ctx)
    third = await login(services, demo)
    with pytest.raises(AuthenticationFailed):  # the old set no longer works
        await services.sessions.second_factor(third, codes[1], remote="127.0.0.1")
    fourth = await login(services, demo)
    await services.sessions.second_factor(fourth, fresh[1], remote="127.0.0.1")


async def test_sessions_are_listed_and_ended_by_their_owner_only(
    services: Services, demo: DemoResult
) -> None:
    one, _ = await services.sessions.login(ALICE, demo.passwords[ALICE], remote="a", user_agent="A")
    two, s2 = await services.sessions.login(
        ALICE, demo.passwords[ALICE], remote="b", user_agent="B"
    )
    ctx, _s1 = await services.sessions.resolve(one)
    assert ctx is not None
    assert {s.user_agent for s in await services.sessions.list_sessions(ctx)} == {"A", "B"}
    bob_address = f"bob@{DEMO_DOMAIN}"
    bob_token, _ = await services.sessions.login(
        bob_address, demo.passwords[bob_address], remote="c", user_agent="C"
    )
    bob, _ = await services.sessions.resolve(bob_token)
    assert bob is not None
    with pytest.raises(NotFound):
        await services.sessions.end_session(bob, s2.id)
    await services.sessions.end_session(ctx, s2.id)
    with pytest.raises(AuthenticationFailed):
        await services.sessions.resolve(two)
    assert (await services.sessions.resolve(one))[0] is not None
