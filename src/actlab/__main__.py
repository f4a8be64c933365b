"""``python -m actlab``: the same command line as the ``actlab`` console script."""

from actlab.cli import main

if __name__ == "__main__":
    main()
