"""The reward model for other teams: `rlhf serve reward-kserve` (see server.py)."""

import sys

# kserve.model_server parses sys.argv for kserve's own flags when it is imported, and argparse's
# prefix matching would read ours as its own (`--model` as `--model_name`): import it with none.
_argv, sys.argv = sys.argv, sys.argv[:1]
try:
    import kserve  # noqa: F401
finally:
    sys.argv = _argv
