"""Label Studio as the human labelers' tool: its REST API over plain HTTP, the ranking interface
(`rlhf label` with `label.source: label-studio`) and the blind pairwise win-rate interface
(`rlhf eval` with `eval.human: label-studio`).

Ranking tasks show the prompt and its K completions in a per-task random order (a labeler must not
learn that the first one is the first sample); the labeler drags them into order (best first),
rates the best one 1-7 and ticks flags. Each task keeps `order` (displayed position -> index of the
sampled completion), so a ranking of displayed letters decodes into the record format of
rlhf/data/records.py: `{"prompt", "completions", "ranking": [indices, best first], "labeler",
"rating", "flags"}`, one record per labeler.

Win-rate tasks show a prompt and two completions, A and B: the policy's and the SFT model's, sides
drawn at random. The tasks carry only an opaque pair id; which side is which policy lives in a key
kept by `rlhf eval`, never in Label Studio, so a labeler cannot see whose answer is whose.

Every call has a deadline; a server that cannot be reached or refuses the token fails with its URL
named. Everything is fetched and checked before anything is stored.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from xml.sax.saxutils import quoteattr

import numpy as np

from rlhf.atomic import write_file
from rlhf.config import LabelStudioConfig
from rlhf.data.records import MAX_K, RecordError, validate

LETTERS = "ABCDEFGHI"[:MAX_K]
FLAGS = ("fails to follow the instruction", "hallucination", "inappropriate")
TIE = "Tie"


class LabelStudioError(RuntimeError):
    """Label Studio is unreachable, refused the token, or holds something we cannot use; the
    message names the URL and, where there is one, the project and task."""


# ---- the HTTP client ------------------------------------------------------------------------------

def _is_personal_access_token(token: str) -> bool:
    """Personal access tokens are JWT refresh tokens (three dot-separated parts); legacy tokens are
    40 hex characters and go in `Authorization: Token ...` (refused unless the organization enabled them)."""
    parts = token.split(".")
    if len(parts) != 3:
        return False
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(payload, dict) and payload.get("token_type") == "refresh"


class LabelStudio:
    """A Label Studio server's REST API. `token` is a personal access token (exchanged for a
    short-lived access token, renewed when it expires) or a legacy token."""

    def __init__(self, url: str, token: str, timeout_s: float = 30.0, token_name: str = "the token"):
        if not url.startswith(("http://", "https://")):
            raise LabelStudioError(f"label.label_studio.url: {url!r} is not an http:// or https:// URL")
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._token = token
        self._token_name = token_name
        self._pat = _is_personal_access_token(token)
        self._access: str | None = None

    @classmethod
    def from_config(cls, cfg: LabelStudioConfig) -> "LabelStudio":
        token = os.environ.get(cfg.token_env, "").strip()
        if not token:
            raise LabelStudioError(f"Label Studio at {cfg.url}: no API token: set ${cfg.token_env} (a personal access "
                                   "token from Label Studio's Account & Settings page)")
        return cls(cfg.url, token, cfg.request_timeout_s, token_name=f"the token in ${cfg.token_env}")

    # One place sends requests, so every call has the deadline and the same error wording.
    def _send(self, method: str, path: str, body: Any = None, headers: dict | None = None) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json", "Accept": "application/json",
                                                  **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                raise LabelStudioError(f"Label Studio at {self.url} did not answer {method} {path} within "
                                       f"{self.timeout_s:g}s (label.label_studio.request_timeout_s)") from None
            raise LabelStudioError(f"Label Studio at {self.url} is unreachable ({method} {path}: {reason}); "
                                   "is it running? (`make label-studio` starts one locally)") from None

    def _refused(self, detail: bytes) -> LabelStudioError:
        text = _detail(detail)
        return LabelStudioError(f"Label Studio at {self.url} refused {self._token_name}: {text}")

    def _authorization(self, renew: bool = False) -> str:
        if not self._pat:
            return f"Token {self._token}"
        if self._access is None or renew:
            status, body = self._send("POST", "/api/token/refresh/", {"refresh": self._token})
            if status != 200:
                raise self._refused(body)
            self._access = self._json(body, "POST /api/token/refresh/")["access"]
        return f"Bearer {self._access}"

    def _json(self, body: bytes, what: str) -> Any:
        try:
            return json.loads(body)
        except ValueError:
            raise LabelStudioError(f"Label Studio at {self.url}: {what} answered something that is not JSON "
                                   f"({body[:120]!r}); is this URL Label Studio?") from None

    def call(self, method: str, path: str, body: Any = None, params: dict | None = None, what: str = "") -> Any:
        """One API call; the JSON answer. An access token that expired is renewed once."""
        if params:
            path = f"{path}?{urllib.parse.urlencode(params)}"
        status, answer = self._send(method, path, body, {"Authorization": self._authorization()})
        if status == 401 and self._pat:
            status, answer = self._send(method, path, body, {"Authorization": self._authorization(renew=True)})
        if status in (401, 403):
            raise self._refused(answer)
        if not 200 <= status < 300:
            raise LabelStudioError(f"Label Studio at {self.url}: {method} {path}{' (' + what + ')' if what else ''} "
                                   f"answered HTTP {status}: {_detail(answer)}")
        return self._json(answer, f"{method} {path}") if answer.strip() else None

    # ---- projects, tasks, users ----

    def check(self) -> dict:
        """The token's user: fails early (before any model loads) when the server or the token is wrong."""
        return self.call("GET", "/api/current-user/whoami")

    def find_project(self, title: str) -> dict | None:
        found = self.call("GET", "/api/projects/", params={"title": title, "page_size": 1000})
        matches = [p for p in found.get("results", found) if p["title"] == title]
        return matches[0] if matches else None

    def create_project(self, title: str, label_config: str, overlap: int) -> dict:
        # Every task goes to `overlap` labelers (the whole project is in the overlap cohort).
        return self.call("POST", "/api/projects/", {"title": title, "label_config": label_config,
                                                    "maximum_annotations": overlap, "overlap_cohort_percentage": 100,
                                                    "show_skip_button": True}, what=f"create project {title!r}")

    def project(self, project_id: int) -> dict:
        return self.call("GET", f"/api/projects/{project_id}")

    def import_tasks(self, project: dict, tasks: list[dict]) -> int:
        answer = self.call("POST", f"/api/projects/{project['id']}/import", tasks,
                           what=f"import {len(tasks)} tasks into project {project['title']!r}")
        return int(answer["task_count"])

    def tasks(self, project: dict) -> list[dict]:
        """Every task of the project with its annotations (Label Studio's JSON export)."""
        return self.call("GET", f"/api/projects/{project['id']}/export",
                         params={"exportType": "JSON", "download_all_tasks": "true"},
                         what=f"export project {project['title']!r}")

    def users(self) -> dict[int, str]:
        """user id -> email (annotations name their labeler by id)."""
        return {u["id"]: u.get("email") or u.get("username") or str(u["id"]) for u in self.call("GET", "/api/users/")}


def _detail(body: bytes) -> str:
    try:
        answer = json.loads(body)
        # "Validation error" alone says nothing: the fields' reasons come with it.
        parts = [str(answer[key]) for key in ("detail", "validation_errors") if answer.get(key)]
        return "; ".join(parts or [str(answer)])[:500]
    except (ValueError, AttributeError):
        return body[:300].decode("utf-8", "replace")


# ---- ranking tasks --------------------------------------------------------------------------------

RANKER, LIST, RATING, FLAG_CHOICES = "rank", "completions", "rating", "flags"


def ranking_interface(k: int) -> str:
    """The labeling config: prompt, the K completions to drag into order, the 1-7 rating, the flags."""
    flags = "\n".join(f"    <Choice value={quoteattr(f)}/>" for f in FLAGS)
    return f"""<View>
  <Header value="Prompt"/>
  <Text name="prompt" value="$prompt"/>
  <Header value="Drag the {k} completions into order: best at the top"/>
  <List name="{LIST}" value="$items" title="Completions"/>
  <Ranker name="{RANKER}" toName="{LIST}"/>
  <Header value="Overall quality of the best completion (1-7)"/>
  <Rating name="{RATING}" toName="prompt" maxRating="7"/>
  <Header value="Flags (any completion)"/>
  <Choices name="{FLAG_CHOICES}" toName="prompt" choice="multiple">
{flags}
  </Choices>
</View>"""


def ranking_task(prompt: str, completions: list[str], split: str, rng: np.random.Generator) -> dict:
    """One task: the completions under letters A.. in a random order; `order[position]` is the index of
    the sampled completion shown at that position."""
    order = [int(i) for i in rng.permutation(len(completions))]
    items = [{"id": LETTERS[pos], "title": LETTERS[pos], "body": completions[i]} for pos, i in enumerate(order)]
    return {"data": {"prompt": prompt, "items": items, "completions": completions, "order": order, "split": split}}


def _results(annotation: dict) -> dict[str, dict]:
    return {r.get("from_name"): r.get("value", {}) for r in annotation.get("result", [])}


def decode_ranking(task: dict, annotation: dict, where: str) -> list[int] | None:
    """The annotation's ranking as indices of the sampled completions, best first; None when the
    labeler skipped the task or submitted without ranking."""
    if annotation.get("was_cancelled"):
        return None
    ranked = _results(annotation).get(RANKER, {}).get("ranker", {}).get(RANKER)
    if ranked is None:
        return None
    order = task["data"]["order"]
    letters = LETTERS[:len(order)]
    if sorted(ranked) != sorted(letters):
        raise LabelStudioError(f"{where}: the ranking {ranked!r} is not an order of the displayed {list(letters)}")
    return [order[letters.index(letter)] for letter in ranked]


def annotation_record(task: dict, annotation: dict, labeler: str, where: str) -> dict | None:
    """A comparison record (rlhf/data/records.py) of one labeler's annotation, validated."""
    ranking = decode_ranking(task, annotation, where)
    if ranking is None:
        return None
    values = _results(annotation)
    rating = values.get(RATING, {}).get("rating")
    record = {"prompt": task["data"]["prompt"], "completions": task["data"]["completions"], "ranking": ranking,
              "labeler": labeler, "rating": None if rating is None else int(rating),
              "flags": [f for f in values.get(FLAG_CHOICES, {}).get("choices", [])]}
    try:
        return validate(record, "comparisons", where)
    except RecordError as exc:
        raise LabelStudioError(str(exc)) from None


@dataclass
class Synced:
    """What a sync pulled: records per split, and what it had to leave out."""

    records: dict[str, list[dict]]
    tasks: int
    annotated_tasks: int
    skipped: int          # annotations cancelled or submitted without a ranking
    agreement: dict


def collect_rankings(client: LabelStudio, project: dict, holdout_labelers: list[str]) -> Synced:
    """Every finished annotation of the project as comparison records, split by the task's split; a
    held-out labeler's go to "heldout" whatever the task's split. Raises before returning anything
    if one annotation cannot be decoded."""
    users = client.users()
    holdout = set(holdout_labelers)
    records: dict[str, list[dict]] = {"train": [], "heldout": []}
    rankings: list[list[tuple[str, list[int]]]] = []
    skipped = annotated = 0
    tasks = client.tasks(project)
    for task in tasks:
        per_task = []
        for annotation in task.get("annotations", []):
            labeler = users.get(annotation.get("completed_by"), str(annotation.get("completed_by")))
            where = (f"Label Studio at {client.url}, project {project['title']!r}, task {task['id']}, "
                     f"annotation {annotation.get('id')} by {labeler}")
            record = annotation_record(task, annotation, labeler, where)
            if record is None:
                skipped += 1
                continue
            split = "heldout" if labeler in holdout else task["data"].get("split", "train")
            records.setdefault(split, []).append(record)
            per_task.append((labeler, record["ranking"]))
        annotated += bool(per_task)
        rankings.append(per_task)
    return Synced(records, len(tasks), annotated, skipped, pairwise_agreement(rankings))


def _ordered_pairs(ranking: list[int]) -> set[tuple[int, int]]:
    """(better, worse) for every pair of completions the ranking orders."""
    return {(a, b) for i, a in enumerate(ranking) for b in ranking[i + 1:]}


def pairwise_agreement(tasks: list[list[tuple[str, list[int]]]]) -> dict:
    """Inter-annotator agreement as the paper measures it: over every two labelers who ranked the
    same prompt, the share of its C(K,2) completion pairs they put in the same order. Also per
    labeler (with everyone else). None when no task has two labelers."""
    agreed = total = 0
    per_labeler: dict[str, list[int]] = {}
    for rankings in tasks:
        for (name_a, rank_a), (name_b, rank_b) in itertools.combinations(rankings, 2):
            if name_a == name_b:
                continue
            pairs_a, pairs_b = _ordered_pairs(rank_a), _ordered_pairs(rank_b)
            same, n = len(pairs_a & pairs_b), len(pairs_a)
            agreed, total = agreed + same, total + n
            for name in (name_a, name_b):
                counts = per_labeler.setdefault(name, [0, 0])
                counts[0] += same
                counts[1] += n
    return {"agreement": agreed / total if total else None, "compared_pairs": total,
            "per_labeler": {name: a / n for name, (a, n) in sorted(per_labeler.items())}}


def wait_for_annotations(client: LabelStudio, project: dict, overlap: int, timeout_s: float, interval_s: float,
                         progress: Callable[[int, int], None] | None = None) -> bool:
    """Polls until every task has `overlap` finished annotations or `timeout_s` pass; True when done.
    `progress(done, wanted)` is called after every poll (the label stage draws a bar with it)."""
    deadline = time.monotonic() + timeout_s
    while True:
        done, wanted = annotation_progress(client, project, overlap)
        if progress:
            progress(done, wanted)
        if wanted and done >= wanted:
            return True
        if time.monotonic() + interval_s > deadline:
            return False
        time.sleep(interval_s)


def annotation_progress(client: LabelStudio, project: dict, overlap: int) -> tuple[int, int]:
    """(annotations finished, annotations wanted = tasks x overlap), each task counted up to `overlap`."""
    tasks = client.tasks(project)
    done = sum(min(overlap, sum(not a.get("was_cancelled") for a in t.get("annotations", []))) for t in tasks)
    return done, len(tasks) * overlap


# ---- blind pairwise win rate ----------------------------------------------------------------------

PREFERENCE = "preference"


def pairwise_interface() -> str:
    return f"""<View>
  <Header value="Which response answers the prompt better?"/>
  <Text name="prompt" value="$prompt"/>
  <Header value="Response A"/>
  <Text name="a" value="$a"/>
  <Header value="Response B"/>
  <Text name="b" value="$b"/>
  <Choices name="{PREFERENCE}" toName="prompt" choice="single" required="true">
    <Choice value="A"/>
    <Choice value="B"/>
    <Choice value="{TIE}"/>
  </Choices>
</View>"""


def pairwise_tasks(prompts: list[str], reference: list[str], policies: dict[str, list[str]],
                   seed: int) -> tuple[list[dict], dict[str, dict]]:
    """Blind tasks, one per (policy, prompt): the policy's and the reference's completion on sides
    drawn at random, in a shuffled order, named by an opaque pair id. Returns (tasks, key): the
    key (pair id -> policy, prompt index, the policy's side) stays with us."""
    rng = np.random.default_rng(seed)
    tasks, key = [], {}
    for name, texts in policies.items():
        for i, (prompt, ours, theirs) in enumerate(zip(prompts, texts, reference)):
            pair = rng.bytes(8).hex()
            side = "A" if rng.random() < 0.5 else "B"
            a, b = (ours, theirs) if side == "A" else (theirs, ours)
            tasks.append({"data": {"prompt": prompt, "a": a, "b": b, "pair": pair}})
            key[pair] = {"policy": name, "prompt_index": i, "policy_side": side}
    order = rng.permutation(len(tasks))
    return [tasks[i] for i in order], key


def decode_pairwise(tasks: list[dict], key: dict[str, dict], where: str = "") -> dict[str, dict]:
    """policy -> {"wins": float (ties count half), "judgments": int} over every answered task."""
    results: dict[str, dict] = {entry["policy"]: {"wins": 0.0, "judgments": 0} for entry in key.values()}
    for task in tasks:
        pair = task["data"].get("pair")
        if pair not in key:
            raise LabelStudioError(f"{where}task {task.get('id')}: pair {pair!r} is not in the eval's key "
                                   "(human_eval_key.json of another eval?)")
        entry = key[pair]
        for annotation in task.get("annotations", []):
            if annotation.get("was_cancelled"):
                continue
            choices = _results(annotation).get(PREFERENCE, {}).get("choices", [])
            if len(choices) != 1 or choices[0] not in ("A", "B", TIE):
                continue
            won = 0.5 if choices[0] == TIE else float(choices[0] == entry["policy_side"])
            results[entry["policy"]]["wins"] += won
            results[entry["policy"]]["judgments"] += 1
    return results


def ensure_project(client: LabelStudio, title: str, label_config: str, overlap: int) -> tuple[dict, bool]:
    """The project of that title, created with the interface when there is none; (project, created)."""
    project = client.find_project(title)
    if project is not None:
        return project, False
    return client.create_project(title, label_config, overlap), True


def push_blind_pairs(client: LabelStudio, cfg: LabelStudioConfig, prompts: list[str], reference: list[str],
                     policies: dict[str, list[str]], seed: int, key_path: Path) -> tuple[dict, dict[str, dict]]:
    """The eval project with its blind pairs: created and filled on the first call, whose key is
    written to `key_path` before any task leaves; reused (with the key read back) after, so a
    rerun collects the answers to the pairs labelers already have."""
    project = client.find_project(cfg.eval_project)
    if project is not None and client.project(project["id"]).get("task_number"):
        if not key_path.exists():
            raise LabelStudioError(f"Label Studio at {client.url}: project {cfg.eval_project!r} already holds "
                                   f"tasks, but their key {key_path} is missing: without it no answer can be "
                                   "decoded (set label.label_studio.eval_project to a new title for a new eval)")
        return project, json.loads(key_path.read_text())
    tasks, key = pairwise_tasks(prompts, reference, policies, seed)
    write_file(key_path, lambda f: f.write(json.dumps(key, indent=1).encode()))
    if project is None:
        project = client.create_project(cfg.eval_project, pairwise_interface(), cfg.overlap)
    count = client.import_tasks(project, tasks)
    print(f"eval: pushed {count} blind pairwise tasks to Label Studio project {cfg.eval_project!r} at "
          f"{client.url}/projects/{project['id']} (key: {key_path})", flush=True)
    return project, key


def human_win_rates(client: LabelStudio, project: dict, key: dict[str, dict]) -> dict[str, dict]:
    """policy -> {"wins", "judgments"} from the answers given so far."""
    where = f"Label Studio at {client.url}, project {project['title']!r}, "
    return decode_pairwise(client.tasks(project), key, where)
