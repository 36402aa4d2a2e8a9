"""``python driver.py JOBS OUTDIR``: the batch command with the test job kind, in its own
process, so that tests can kill it (exit 130 on SIGINT/SIGTERM, like the CLI)."""

import sys

from helpers import KINDS, counting_loader  # this folder is sys.path[0]

from vecdistill.commands.batch import run_command

if __name__ == "__main__":
    try:
        sys.exit(run_command(sys.argv[1], sys.argv[2], device="cpu", quiet=True, kinds=KINDS,
                             loader=counting_loader))
    except KeyboardInterrupt:
        sys.exit(130)
