"""``python -m voxstream``: the same command line as the ``voxstream`` script."""

import sys

from voxstream.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
