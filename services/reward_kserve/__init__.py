"""The reward model for other teams: `rlhf serve reward-kserve` (see server.py).

Importing kserve here, before any module of this package does, is the one place its import-time
side effect is contained. kserve 0.21's `kserve/__init__.py` imports `kserve.model_server`
unconditionally, and that module parses `sys.argv` with `parse_known_args()` for kserve's own
flags when it is imported. Python runs a package's `__init__` before any of its submodules, so
importing only the pieces we use (`kserve.protocol.dataplane`, ...) still runs that parse. With
our command line it fails: argparse's prefix matching reads `--config x.yaml` as
`--configure_logging` (not a boolean: exit 2) and `--model` as `--model_name`.

So kserve is imported with an argv of the program name alone, and the caller's list (the same
object) is back before this module finishes, even if the import fails. The alternatives are
worse: putting an unexecuted `kserve` package into `sys.modules` to skip its `__init__` leans on
kserve's internal layout and breaks `from kserve import ...` for everything else in the process
(the tests import kserve's clients), and patching argparse is more global still. We use nothing
`kserve.model_server` defines (no `ModelServer`, not its module-global FastAPI `app`): the
servers are our own (server.py). When kserve stops parsing argv at import, this is a no-op.
"""

import importlib
import sys


def _import_kserve() -> None:
    if "kserve" in sys.modules:  # already imported (and parsed) by someone else: nothing to guard
        return
    argv = sys.argv
    sys.argv = argv[:1]
    try:
        importlib.import_module("kserve")
    finally:
        sys.argv = argv


_import_kserve()
