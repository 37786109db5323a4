"""`python -m suite` runs the CLI."""

from suite.cli import main

if __name__ == "__main__":
    main()
