"""Thin entry point kept at the repository root: `python cli.py ...` equals `suite ...`."""

from suite.cli import main

if __name__ == "__main__":
    main()
