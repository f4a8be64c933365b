"""The report framework: ledger, runner (verdicts from rules, cache, errors), HTML, CLI, a real browser."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
from typer.testing import CliRunner

from actlab.cli import app
from actlab.report.claim import CONFIRMED, INCONCLUSIVE, REFUTED, Claim, Context, Evidence, Verdict
from actlab.report.html import render_html
from actlab.report.ledger import LedgerClaim, LedgerError, load_ledger, load_sources, parse_ledger
from actlab.report.runner import ERROR, NOT_TESTED, ReportError, discover, run_report


# -- ledger ---------------------------------------------------------------------------------------
def test_shipped_ledger_holds_every_claim_of_the_shared_ledger() -> None:
    claims = load_ledger()
    assert [c.id for c in claims] == [f"C{i:02d}" for i in range(1, len(claims) + 1)]
    assert len(claims) >= 31
    shared = Path(__file__).resolve().parents[2] / "shared" / "claims.md"
    if shared.exists():  # the project's copy may grow, never lose a claim
        assert {c.id for c in parse_ledger(shared.read_text(encoding="utf-8"))} <= {c.id for c in claims}
    assert set(load_sources()) == {s for c in claims for s in c.sources}
    assert "|x|" in next(c.text for c in claims if c.id == "C22")  # escaped pipes survive


@pytest.mark.parametrize("row, problem", [
    ("| X1 | text | 000 |", "claim id 'X1' is invalid"),
    ("| C01 | text |", "needs 3 cells"),
    ("| C01 | text | zero |", "must be tutorial ids"),
    ("| C01 |  | 000 |", "has no text"),
])
def test_malformed_ledger_rows_are_rejected_with_the_line(row: str, problem: str) -> None:
    with pytest.raises(LedgerError, match=problem):
        parse_ledger(f"| id | claim | sources |\n|---|---|---|\n{row}\n")


def test_duplicate_ledger_ids_are_rejected() -> None:
    with pytest.raises(LedgerError, match="already used on line 3"):
        parse_ledger("| id | claim | sources |\n|---|---|---|\n| C01 | a | 000 |\n| C01 | b | 001 |\n")


# -- runner ---------------------------------------------------------------------------------------
LEDGER = [LedgerClaim("C01", "Twice two is four.", ("000",)), LedgerClaim("C02", "Pi is three.", ("001",)),
          LedgerClaim("C03", "Nobody measured this yet.", ("002",))]
CALLS: dict[str, int] = {}


def _plot(value: float) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.bar(["measured"], [value])
    return fig


def _measure_product(ctx: Context) -> Evidence:
    CALLS["C01"] = CALLS.get("C01", 0) + 1
    v = 2.0 * 2.0
    return Evidence({"product": v, "pair": (2, 2)}, {"how": "multiplied"},
                    [ctx.figure(_plot(v), "The bar is at 4.")])


def _decide_product(numbers: dict, quick: bool) -> Verdict:
    assert numbers["pair"] == [2, 2]  # decide always sees the JSON round trip, fresh or cached
    ok = abs(numbers["product"] - 4) < 1e-12
    return Verdict(CONFIRMED if ok else REFUTED, f"2 x 2 = {numbers['product']}")


def _measure_pi(ctx: Context) -> Evidence:
    import math

    return Evidence({"pi": math.pi}, {}, [ctx.figure(_plot(math.pi), "Pi, not three.")])


def _decide_pi(numbers: dict, quick: bool) -> Verdict:
    if quick:
        return Verdict(INCONCLUSIVE, "quick mode measures pi too coarsely")
    return Verdict(CONFIRMED if abs(numbers["pi"] - 3) < 0.01 else REFUTED, f"pi = {numbers['pi']:.5f}")


def _broken(ctx: Context) -> Evidence:
    raise RuntimeError("the experiment broke")


PRODUCT = Claim("C01", "twice two", "confirmed iff the product is 4", _measure_product, _decide_product)
PI = Claim("C02", "pi", "confirmed iff |pi - 3| < 0.01 (full mode only)", _measure_pi, _decide_pi)


def test_verdicts_come_from_the_rules_and_untested_claims_have_none(tmp_path: Path) -> None:
    rep = run_report(tmp_path, quick=False, claims=[PRODUCT, PI], ledger=LEDGER, progress=False)
    by = {e.id: e for e in rep.entries}
    assert by["C01"].verdict == CONFIRMED and by["C01"].reason == "2 x 2 = 4.0"
    assert by["C02"].verdict == REFUTED and "3.14159" in by["C02"].reason
    assert by["C03"].status == NOT_TESTED and by["C03"].verdict is None
    assert rep.missing == ["C03"] and not rep.complete
    quick = run_report(tmp_path, quick=True, only=["c02"], claims=[PRODUCT, PI], ledger=LEDGER,
                       progress=False)
    assert [e.label for e in quick.entries] == [INCONCLUSIVE]


def test_results_json_figures_and_html_are_written(tmp_path: Path) -> None:
    run_report(tmp_path, quick=False, claims=[PRODUCT, PI], ledger=LEDGER, progress=False)
    data = json.loads((tmp_path / "results.json").read_text())
    assert [c["id"] for c in data["claims"]] == ["C01", "C02", "C03"]
    assert data["claims"][0]["figures"][0]["file"] == "figures/C01-1.png"
    assert (tmp_path / "figures" / "C01-1.png").read_bytes().startswith(b"\x89PNG")
    page = (tmp_path / "index.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "http://" not in page and "https://" not in page
    assert 'id="C03"' in page and "not tested yet" in page and "The bar is at 4." in page


def test_cached_evidence_is_reused_until_the_claim_changes(tmp_path: Path) -> None:
    CALLS.clear()
    run_report(tmp_path, quick=False, claims=[PRODUCT], ledger=LEDGER, progress=False)
    rep = run_report(tmp_path, quick=False, claims=[PRODUCT], ledger=LEDGER, progress=False)
    assert CALLS["C01"] == 1 and rep.entries[0].cached and rep.entries[0].verdict == CONFIRMED
    bumped = Claim("C01", "twice two", PRODUCT.rule, _measure_product, _decide_product, version=2)
    run_report(tmp_path, quick=False, claims=[bumped], ledger=LEDGER, progress=False)
    run_report(tmp_path, quick=False, claims=[PRODUCT], ledger=LEDGER, progress=False, fresh=True)
    assert CALLS["C01"] == 3


def test_a_failing_experiment_is_an_error_entry_and_the_others_still_run(tmp_path: Path) -> None:
    broken = Claim("C02", "broken", "never decided", _broken, _decide_pi)
    rep = run_report(tmp_path, quick=False, claims=[PRODUCT, broken], ledger=LEDGER, progress=False)
    by = {e.id: e for e in rep.entries}
    assert by["C01"].verdict == CONFIRMED
    assert by["C02"].status == ERROR and "the experiment broke" in by["C02"].error
    assert rep.errors == ["C02"]
    assert "the experiment broke" in (tmp_path / "index.html").read_text()


def test_decide_returning_a_made_up_verdict_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="valid: confirmed, refuted"):
        Verdict("probably", "a guess")


def test_unknown_only_id_names_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="unknown claim id 'C99'; valid: C01, C02, C03"):
        run_report(tmp_path, claims=[PRODUCT], ledger=LEDGER, only=["C99"], progress=False)


def test_out_that_is_a_file_is_refused_before_any_experiment(tmp_path: Path) -> None:
    f = tmp_path / "act.png"
    f.write_bytes(b"x")
    ran: list[str] = []
    claim = Claim(id="C01", title="t", rule="r", measure=lambda ctx: ran.append("measured"),  # type: ignore
                  decide=PRODUCT.decide)
    with pytest.raises(ReportError, match="is a file; the report writes a folder"):
        run_report(f, claims=[claim], ledger=LEDGER, progress=False)
    assert not ran and f.read_bytes() == b"x"


def test_ledger_like_claim_missing_from_the_ledger_is_an_error(tmp_path: Path) -> None:
    stray = Claim("C77", "stray", "rule", _measure_product, _decide_product)
    rep = run_report(tmp_path, claims=[PRODUCT, stray], ledger=LEDGER, progress=False)
    assert {e.id: e.status for e in rep.entries}["C77"] == ERROR


def test_html_escapes_measured_text() -> None:
    from actlab.report.runner import Entry, Report

    e = Entry("C01", "<script>alert(1)</script>", ("000",), status="verdict", verdict=CONFIRMED,
              reason="a < b & c", rule="r", numbers={"x": 1.0})
    page = render_html(Report({"mode": "full", "counts": {CONFIRMED: 1}}, [e]))
    assert "<script>" not in page and "&lt;script&gt;" in page and "a &lt; b &amp; c" in page


def test_every_shipped_claim_module_imports_and_names_a_ledger_or_theory_id() -> None:
    claims, failures = discover()
    assert not failures, failures
    ledger_ids = {c.id for c in load_ledger()}
    for c in claims:
        assert c.id in ledger_ids or c.id.startswith("T"), c.id
        assert c.rule.strip() and c.title.strip()


# -- CLI ------------------------------------------------------------------------------------------
def test_cli_lists_claims_and_rejects_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["report", "--list"])
    assert res.exit_code == 0 and "C01" in res.output and "C31" in res.output
    res = runner.invoke(app, ["report", "--only", "C99", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "unknown claim id 'C99'" in res.output
    res = runner.invoke(app, ["report", "--backend", "slurm", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "valid: local, ray" in res.output


# -- the shipped claims at tiny scale, rendered in a real browser -----------------------------------
@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    rep = run_report(out, quick=True, tiny=True, progress=False, workers=1)
    assert not rep.errors, {e.id: e.error for e in rep.entries if e.error}
    return out


def test_tiny_run_of_every_shipped_claim_writes_a_complete_page(tiny_report: Path) -> None:
    data = json.loads((tiny_report / "results.json").read_text())
    page = (tiny_report / "index.html").read_text()
    for c in data["claims"]:
        assert f'id="{c["id"]}"' in page
        if c["status"] == "verdict":
            assert c["figures"], f"{c['id']} shows no figure"
            assert all(f["caption"].strip() for f in c["figures"])


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_report_renders_in_headless_chromium_with_every_image_loaded(tiny_report: Path) -> None:
    if _chromium() is None or shutil.which("chromedriver") is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the test extra")
    opts = webdriver.ChromeOptions()
    opts.binary_location = _chromium()
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--no-first-run", "--window-size=1280,2000"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    driver = webdriver.Chrome(options=opts, service=service)
    try:
        driver.get((tiny_report / "index.html").as_uri())
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt]);")
        assert images, "the page shows no figure"
        assert all(done and width > 0 for done, width, _ in images), images
        errors = [m for m in driver.get_log("browser") if m["level"] == "SEVERE"]
        assert not errors, errors
        # phone width: nothing wider than the screen except inside the scrolling table boxes
        driver.set_window_size(390, 844)
        overflow = driver.execute_script("return document.documentElement.scrollWidth;")
        assert overflow <= 400, f"the page is {overflow}px wide on a 390px phone screen"
        driver.set_window_size(1280, 2000)
        driver.save_screenshot(str(tiny_report / "screenshot.png"))
    finally:
        driver.quit()
