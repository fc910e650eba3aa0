"""A labeler ranks a task in Label Studio's real web UI (headless Chromium driven by selenium,
from Label Studio's environment), and `rlhf label sync` stores that ranking."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from pipelines import labelstudio as ls
from pipelines.label import sync
from tests.labelstudio.server import ADMIN, LABELERS, LS_PYTHON
from tests.labelstudio.test_rankings import PROMPTS, make_config, project_tasks, push

SCRIPT = __file__.replace("test_browser.py", "browser_rank.py")


def test_a_ranking_made_in_the_web_ui_is_synced(label_studio, store, monkeypatch):
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not on PATH (Debian: apt-get install chromium chromium-driver; "
                    "`make test` installs them when it can)")
    project = push(label_studio, "browser", overlap=1)
    task = project_tasks(label_studio, project)[1]  # K = 4
    # The reverse of the displayed order: every completion has to be dragged.
    letters = list(reversed(ls.LETTERS[:4]))
    want = [task["data"]["order"][ls.LETTERS.index(letter)] for letter in letters]  # completion indices, best first
    labeler = LABELERS[0]
    done = subprocess.run([str(LS_PYTHON), SCRIPT, label_studio.url, labeler, labeler, str(project["id"]),
                           str(task["id"]), ",".join(letters), "5", "hallucination"],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == letters  # the UI shows what we dragged

    monkeypatch.setenv("RLHF_TEST_LS_TOKEN", label_studio.tokens[ADMIN])
    summary = sync(make_config(label_studio, store, "browser"))
    assert summary["sizes"] == {"train": 1}
    (record,) = store.read_records("comparisons/browser/train")
    assert record["prompt"] == PROMPTS[1][0] and record["completions"] == PROMPTS[1][1]
    assert record["ranking"] == want
    assert (record["labeler"], record["rating"], record["flags"]) == (labeler, 5, ["hallucination"])
