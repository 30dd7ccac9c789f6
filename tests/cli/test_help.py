"""Every verb of `securemail --help`, and every action under it, answers `--help` with a usage
text and exit status 0 (in-process through the same `main`, to keep this quick)."""

import argparse
from collections.abc import Iterator

import pytest

from securemail.cli import main
from securemail.cli.parser import build_parser


def verbs(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name)
                yield from verbs(sub, (*path, name))


ALL_VERBS = list(verbs(build_parser()))


def test_the_verbs_the_readme_documents_are_there() -> None:
    top = {v[0] for v in ALL_VERBS}
    assert {"org", "domain", "user", "group", "grant", "revoke", "grants", "migrate", "serve",
            "demo", "audit", "deliver"} <= top  # fmt: skip
    assert {("org", "create"), ("org", "list"), ("domain", "add"), ("user", "create"),
            ("user", "list"), ("user", "disable"), ("user", "enable"),
            ("user", "reset-password"), ("group", "create"), ("group", "list"),
            ("audit", "verify"), ("audit", "list")} <= set(ALL_VERBS)  # fmt: skip


@pytest.mark.parametrize("verb", ALL_VERBS, ids=" ".join)
def test_every_verb_has_help(verb: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*verb, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: securemail {' '.join(verb)}")
    assert "--config" in out or "ACTION" in out
