"""``python -m ragd.cli``: the same as the ``ragd`` console script."""

from ragd.cli.main import main

main()
