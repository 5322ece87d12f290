"""Progress of long passes: documents, MB, rate and ETA; a bar on a terminal, rare log lines otherwise."""

from __future__ import annotations

import io
import logging

import pyarrow as pa
import pytest

from pipelines.progress import Meter, Progress
from tests.conftest import EXAMPLES, cli


def _table(n: int, text: str = "abcd") -> pa.Table:
    return pa.table({"id": [str(i) for i in range(n)], "text": [text] * n})


def test_log_meter_reports_docs_mb_rate_eta(caplog):
    m = Meter("stages pii", total=10, unit="doc", stream=io.StringIO(), tty=False, every=0.0)
    with caplog.at_level(logging.INFO, logger="corpusmill"):
        list(m.counting([_table(4, "x" * 250_000), (_table(1, "y"), _table(1))]))
        m.close()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("stages pii: 40% · 4 docs · 1.0 MB · ") and "docs/s" in lines[0] and "MB/s" in lines[0]
    assert "ETA" not in lines[0]  # withheld at the start: no "ETA 3h41m" from the first batch
    # a (survivors, drops) pair counts every document that entered the pass
    assert lines[1].startswith("stages pii: 60% · 6 docs")
    assert lines[-1].startswith("stages pii: done · 6 docs · 1.0 MB in ")


def test_log_meter_is_quiet_for_short_passes(caplog):
    m = Meter("ingest", total=1000, unit="B", stream=io.StringIO(), tty=False, every=3600.0)
    with caplog.at_level(logging.INFO, logger="corpusmill"):
        list(m.counting([_table(3)]))
        m.advance(1000)
        m.close()
    assert caplog.records == []
    assert m.docs == 3 and m.done == 1000
    assert m.line().startswith("ingest: 100% · 3 docs")


def test_terminal_meter_draws_a_bar_with_docs_and_mb():
    out = io.StringIO()
    m = Progress(enabled=True, stream=out).meter("ingest", total=2048, unit="B")
    for t in m.counting([_table(5, "z" * 1000)] * 3):
        m.advance(512)
    m._bar.refresh()
    m.close()
    text = out.getvalue()
    assert "ingest" in text and "15 docs" in text and "MB" in text and "1.50k/2.00k" in text


SMALL_CONFIG = """
name: progress
purpose: {{description: progress output check, uses: [research]}}
stages: [normalize, {{name: length, min_chars: 3}}, exact_dedup, long_lines]
sources:
  - {{id: ko_reviews, paths: ["{data}/nsmc_sample.jsonl.gz"], format: jsonl, text_field: text, id_field: id, lang: ko,
     provenance: {{owner: Lucy Park, acquisition: open-licence, licence: CC0-1.0}}}}
  - {{id: en_speeches, paths: ["{data}/speeches/"], format: txt, split: file, lang: en,
     provenance: {{owner: US Government, acquisition: public-domain, licence: LicenseRef-public-domain}}}}
"""


def test_run_progress_through_the_cli(tmp_path):
    """Not on a terminal: silent by default; with a short interval, log lines per pass that end at 100 %."""
    cfg = tmp_path / "progress.yaml"
    cfg.write_text(SMALL_CONFIG.format(data=(EXAMPLES / "data").as_posix()), encoding="utf-8")
    env = {"CORPUSMILL_CATALOG": str(tmp_path / "cat")}
    quiet = cli("run", str(cfg), "--out", str(tmp_path / "a"), cwd=tmp_path, env=env)
    assert "docs/s" not in quiet.stderr and "ETA" not in quiet.stderr
    chatty = cli("run", str(cfg), "--out", str(tmp_path / "b"), cwd=tmp_path, env={**env, "CORPUSMILL_PROGRESS_SECONDS": "0"})
    lines = [ln for ln in chatty.stderr.splitlines() if "docs/s" in ln or ": done · " in ln]
    assert any(ln.startswith("INFO ingest: ") for ln in lines)
    assert not any("ETA" in ln for ln in lines)  # a run of a few seconds gets no guess
    assert any(ln.startswith("INFO ingest: done · 3,006 docs") for ln in lines)
    # after the first global stage, the next pass is measured in documents and reaches 100 %
    after = [ln for ln in lines if ln.startswith("INFO stages ")]
    assert after and any(" 100% · " in ln for ln in after)
    assert quiet.stdout.splitlines()[-1] == chatty.stdout.splitlines()[-1]  # same manifest ID


def test_eta_is_withheld_at_first_and_never_grows_while_stalled():
    m = Meter("ingest", total=1000, unit="B", stream=io.StringIO(), tty=False, every=3600.0)
    t0 = m.t0
    m.done = 10
    assert m.eta(t0 + 60) is None  # 1 % done: too early to say
    m.done = 100
    assert m.eta(t0 + 5) is None  # 10 % but only 5 s in
    first = m.eta(t0 + 20)  # 10 % in 20 s → 180 s left
    assert first == 180
    # a big file is being read and the position does not move: the estimate counts down, never up
    later = [m.eta(t0 + 20 + dt) for dt in (30, 60, 120)]
    assert later == [150, 120, 60]
    assert m.eta(t0 + 20 + 500) is None  # past its own guess: no number rather than a wrong one
    m.done = 500
    assert m.eta(t0 + 100) == 100  # moved again: re-estimated from the whole rate


def test_log_lines_go_above_a_live_bar():
    from pipelines.progress import BarAwareHandler

    out = io.StringIO()
    m = Progress(enabled=True, stream=out).meter("ingest", total=100, unit="B")
    m.advance(10)
    handler = BarAwareHandler(out)
    record = logging.LogRecord("corpusmill", logging.WARNING, __file__, 1, "quarantined x line 3: bad", None, None)
    handler.emit(record)
    m.close()
    text = out.getvalue()
    # tqdm.write clears the bar first ("\r" + blanks), prints the line, then redraws the bar
    assert "\nquarantined x line 3: bad\n" in text.replace("\r", "\n")


def test_third_party_info_is_silenced_unless_verbose():
    import sys

    code = ("import logging, sys; from pipelines.progress import configure_logging; "
            "configure_logging(verbose='-v' in sys.argv); "
            "logging.getLogger('presidio-analyzer').info('Using device of type: cpu'); "
            "logging.getLogger('trafilatura.utils').setLevel(logging.ERROR); "
            "logging.getLogger('trafilatura.utils').error('empty HTML tree: None'); "
            "logging.getLogger('corpusmill').info('ours')")
    import subprocess

    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stderr
    loud = subprocess.run([sys.executable, "-c", code, "-v"], capture_output=True, text=True, check=True).stderr
    assert "Using device" not in quiet and "empty HTML tree" not in quiet and "INFO ours" in quiet
    assert "Using device" in loud


class _RecordingProgress(Progress):
    """Progress whose meters remember every ``advance`` step, per pass."""

    def __init__(self):
        super().__init__(enabled=False)
        self.steps: dict[str, list[int]] = {}

    def meter(self, name: str, total: int, unit: str = "doc") -> Meter:
        m = super().meter(name, total, unit)
        steps = self.steps.setdefault(name, [])
        advance = m.advance

        def recording(n: int) -> None:
            steps.append(n)
            advance(n)

        m.advance = recording  # type: ignore[method-assign]
        return m


@pytest.mark.parametrize("workers", [1, 2])
def test_a_big_gzip_file_moves_the_ingest_meter_while_it_is_read(tmp_path, workers):
    """One ~5.5 MB ``.gz`` read in batches of 500 records: the ingest meter moves several times
    inside the file (its position in the compressed file, which the reader consumes 1 MB at a
    time), not once at its end, and its steps add up to exactly the planned size — also from
    pool workers, whose steps reach the meter over the queue (a second, small file makes a
    second unit). Counts steps, not seconds."""
    import gzip
    import json
    import random

    from pipelines.runner import prepare, run

    rng = random.Random(17)
    data = tmp_path / "in"
    data.mkdir()
    with gzip.open(data / "big.jsonl.gz", "wt", encoding="utf-8") as f:
        for i in range(10_000):  # hex noise compresses to about half: a large .gz from few records
            f.write(json.dumps({"id": i, "text": f"{rng.getrandbits(4096):01024x}"}) + "\n")
    if workers > 1:
        lines = (json.dumps({"id": f"s{i}", "text": f"{rng.getrandbits(4096):01024x}"}) for i in range(300))
        (data / "small.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    big = (data / "big.jsonl.gz").stat().st_size
    cfg = tmp_path / "big.yaml"
    cfg.write_text(
        f"""
name: big-gzip
purpose: {{description: progress within a file, uses: [research]}}
limits: {{batch_size: 500}}
workers: {workers}
stages: [{{name: length, min_chars: 2}}]
sources:
  - {{id: big, paths: ["{data.as_posix()}/"], format: jsonl, text_field: text, id_field: id,
     provenance: {{owner: tests, acquisition: owned, licence: CC0-1.0}}}}
""",
        encoding="utf-8",
    )
    plan = prepare(cfg)
    total = plan.total_bytes
    progress = _RecordingProgress()
    outcome = run(cfg, out=tmp_path / "out", catalog=str(tmp_path / "cat"), progress=progress, plan=plan)
    steps = progress.steps["ingest"]
    assert sum(steps) == total and big > 5_000_000
    assert len(steps) >= 5 and max(steps) < big / 4, steps  # 20 batches over ~5 MB read in 1 MB buffers
    if workers == 1:
        assert steps[0] < big / 4  # it moves from early on
    assert outcome.manifest["run"]["workers"] == workers
    assert outcome.manifest["totals"]["kept"] == 10_000 + (300 if workers > 1 else 0)
