"""``python -m batchverify`` runs the command line."""

from batchverify.cli import main

if __name__ == "__main__":
    main()
