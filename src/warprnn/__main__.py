"""``python -m warprnn``: the ``warprnn`` command, also what ``torchrun ... -m warprnn train`` runs."""

import sys

from warprnn.cli import main

if __name__ == "__main__":
    sys.exit(main())
