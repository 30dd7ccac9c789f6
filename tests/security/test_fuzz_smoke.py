"""CI's short fuzzing pass: every harness over its seed corpus plus a bounded, seeded batch of
mutants (the same each run); any crash fails. Long runs: scripts/fuzz (docs/security.md)."""

import os
import signal
import subprocess
import sys
import time

import pytest

from fuzz import atheris_engine, cli, mutate
from fuzz.harness import Harness, Recorder
from fuzz.registry import TARGETS, load

# Inputs per target: a few seconds each (mime parses every input five ways, so fewer).
BUDGET = {"mime": 500, "html": 2500}
DEFAULT_BUDGET = 3000
SEED = 7


@pytest.mark.parametrize("target", TARGETS)
def test_seed_corpus_holds_valid_examples(target: str) -> None:
    """Seeds are the good inputs mutants start from: none crashes and most parse cleanly."""
    harness = load(target)
    seeds = harness.seeds()
    outcomes = [harness.run(data) for data in seeds]
    assert len(seeds) >= 5
    assert [crash for _, crash in outcomes if crash is not None] == []
    assert sum(outcome == "ok" for outcome, _ in outcomes) >= len(seeds) // 2


@pytest.mark.parametrize("target", TARGETS)
def test_no_crash_on_seeds_and_mutants(target: str) -> None:
    budget = BUDGET.get(target, DEFAULT_BUDGET)
    recorder = Recorder(load(target))
    mutate.run(recorder, seed=SEED, max_inputs=budget)
    assert recorder.executed == budget
    assert recorder.crashes == {}, f"{recorder.crashing_inputs} crashing inputs: {recorder.crashes}"


def _fragile(data: bytes) -> None:
    """A target with a planted bug: any NUL byte raises ZeroDivisionError, not its ValueError."""
    if b"\0" in data:
        _ = 1 // 0
    if not data.isascii():
        raise ValueError("documented")


def test_the_driver_reports_a_planted_crash() -> None:
    """The pass above can fail: a bug the mutator reaches is recorded, once per place."""
    harness = Harness("fragile", _fragile, (ValueError,), tokens=(b"\0",))
    recorder = Recorder(harness)
    mutate.run(recorder, seed=SEED, max_inputs=500, seeds=[b"abc"])
    assert recorder.executed == 500
    [(where, data)] = recorder.crashes.items()
    assert where.startswith("ZeroDivisionError at test_fuzz_smoke.py:") and b"\0" in data
    assert recorder.crashing_inputs > 1


def test_fuzz_command_counts_inputs_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--minutes", "0.01", "--target", "sasl", "--engine", "mutate"]) == 0
    line = capsys.readouterr().out
    assert line.startswith("sasl   mutate") and "crashes: 0" in line
    assert int(line.split()[2].replace(",", "")) > 100


@pytest.mark.skipif(not atheris_engine.available(), reason="atheris is not installed here")
def test_ctrl_c_ends_a_coverage_run_with_its_figures_not_a_crash() -> None:
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) during
    `scripts/fuzz`: libFuzzer stops, and the run prints what it executed, says it was
    interrupted, and counts no crash."""
    log = cli.WORK_DIR / "sasl.log"
    log.unlink(missing_ok=True)
    command = [sys.executable, "-m", "fuzz", "--minutes", "1", "--target", "sasl"]
    child = subprocess.Popen(
        [*command, "--engine", "atheris"], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while not (log.exists() and "pulse" in log.read_text("utf-8", "replace")):
        assert time.monotonic() < deadline and child.poll() is None, "the fuzzer did not start"
        time.sleep(0.2)
    os.killpg(child.pid, signal.SIGINT)
    out, _err = child.communicate(timeout=60)
    assert child.returncode == 0, out
    assert out.startswith("sasl   atheris") and "crashes: 0" in out and "interrupted" in out
    assert int(out.split()[2].replace(",", "")) > 0
