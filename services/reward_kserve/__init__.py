"""The reward model for other teams: `rlhf serve reward-kserve` (see server.py)."""

import importlib
import sys

# kserve.model_server parses sys.argv for kserve's own flags when it is imported, and argparse's
# prefix matching would read ours as its own (`--model` as `--model_name`): import it with none.
_argv, sys.argv = sys.argv, sys.argv[:1]
try:
    importlib.import_module("kserve")
finally:
    sys.argv = _argv
