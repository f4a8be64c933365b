"""One module per ledger claim (or group of claims); each defines ``CLAIM`` or ``CLAIMS``."""
