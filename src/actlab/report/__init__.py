"""actlab.report: the classic tutorial claims about activation functions, tested by experiment.

* :mod:`actlab.report.ledger` - the claims ledger (``ledger.md``, the source of truth);
* :mod:`actlab.report.claim` - the claim interface (``measure -> Evidence``, ``decide -> Verdict``);
* :mod:`actlab.report.claims` - one module per claim (discovered, no registration file);
* :mod:`actlab.report.runner` - runs the claims with a cache and writes ``results.json``;
* :mod:`actlab.report.html` - the self-contained ``index.html``.

    >>> from actlab.report.runner import run_report
    >>> report = run_report("report", quick=True, only=["C19"])   # doctest: +SKIP
"""
