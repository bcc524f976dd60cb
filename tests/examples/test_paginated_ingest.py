"""The paginated-ingest example against its API server as a real process: both paging styles,
in-process and through the CLI; a failure at page k resumes at page k (the server's own
counts prove earlier pages are not fetched again); a changed data set is a
``CheckpointMismatchError``; the CLI's user mistakes are one line and exit 2."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from examples.paginated_ingest.ingest import (
    PageApi,
    Target,
    ingest_by_page,
    ingest_by_token,
)
from examples.paginated_ingest.server import Catalog
from resumable import CheckpointMismatchError
from store_client import TaskScope, TaskStore, connect
from tests.examples.paginated_support import ROOT, PageServer, start_ingest, target_counts

PAGES, SIZE = 40, 5
ALL_PAGES = list(range(1, PAGES + 1))
ALL_IDS = list(range(1, PAGES * SIZE + 1))
MODES = ["pages", "tokens"]
KEY = {"pages": "page", "tokens": "next_token"}  # the checkpoint key of each mode
CATALOG = Catalog(PAGES, SIZE)  # what the default server serves (same secret)


class Boom(Exception):
    """The failure a test injects at one page."""


def ingest_fn(mode: str, every: int) -> Callable[..., Any]:
    return ingest_by_page(every) if mode == "pages" else ingest_by_token(every)


def fail_at(page: int) -> Callable[[int], None]:
    def on_page(loaded: int) -> None:
        if loaded == page:
            raise Boom(f"failed after loading page {page}")
    return on_page


@pytest.fixture
def server() -> Iterator[PageServer]:
    with PageServer(pages=PAGES, page_size=SIZE) as srv:
        yield srv


@pytest.fixture
def store_file(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def task_store(store_file: str) -> Iterator[TaskStore]:
    with connect(store_file) as client:
        yield client.task_store(TaskScope("paginated_ingest", "run", "ingest"))


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Target]:
    db = Target(tmp_path / "target.db")
    yield db
    db.close()


def test_server_pages_tokens_stats_and_errors(server: PageServer) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        first = http.get("/items", params={"page": 1}).json()
        assert first["page"] == 1 and first["total_pages"] == PAGES
        assert [i["id"] for i in first["items"]] == [1, 2, 3, 4, 5]
        assert first["items"] == CATALOG.items(1)  # deterministic: same data everywhere
        ids, tokens, token = [], [], None
        while True:
            reply = http.get("/items/stream",
                             params={} if token is None else {"token": token}).json()
            ids += [i["id"] for i in reply["items"]]
            if (token := reply["next"]) is None:
                break
            tokens.append(token)
        assert ids == ALL_IDS
        assert len(set(tokens)) == PAGES - 1
        assert not any(t.isdigit() for t in tokens)  # opaque, not the page number
        assert tokens[0] == CATALOG.token_for(2)  # stateless: derived, not stored
        body, signature = tokens[0].split(".")
        forged = CATALOG.token_for(9).split(".")[0] + "." + signature  # page 9, page 2's sig
        bad = [("/items", {"page": "0"}, "bad_page"), ("/items", {"page": "41"}, "bad_page"),
               ("/items", {"page": "x"}, "bad_page"), ("/items", {}, "bad_page"),
               ("/items/stream", {"token": "2"}, "bad_token"),
               ("/items/stream", {"token": ""}, "bad_token"),
               ("/items/stream", {"token": forged}, "bad_token"),
               ("/items/stream", {"token": body}, "bad_token"),
               ("/items/stream", {"token": Catalog(PAGES, SIZE, "other").token_for(2)},
                "bad_token"),
               ("/items/stream", {"token": Catalog(99, SIZE).token_for(50)}, "bad_token")]
        for path, params, code in bad:
            response = http.get(path, params=params)
            assert (response.status_code, response.json()["error"]) == (400, code), params
        assert http.get("/nope").status_code == 404
        stats = http.get("/stats").json()
    assert server.stats() == {page: 2 if page == 1 else 1 for page in ALL_PAGES}
    assert stats["errors"] == len(bad) + 1


@pytest.mark.parametrize("mode", MODES)
def test_in_process_ingest_loads_each_page_once_and_clears(
        mode: str, server: PageServer, target: Target, task_store: TaskStore) -> None:
    api = PageApi(server.url)
    summary = ingest_fn(mode, 3)(api, target, task_store=task_store)
    api.close()
    assert (summary.mode, summary.resumed_from, summary.pages, summary.items) == (
        mode, None, ALL_PAGES, PAGES * SIZE)
    assert target.item_ids() == ALL_IDS
    assert target.loads_per_page() == dict.fromkeys(ALL_PAGES, 1)
    assert server.stats() == dict.fromkeys(ALL_PAGES, 1)
    assert task_store.items() == {}  # clear_on_success: no key left behind


@pytest.mark.parametrize("mode", MODES)
def test_cli_ingests_every_page(mode: str, server: PageServer, tmp_path: Path,
                                store_file: str, task_store: TaskStore) -> None:
    run = start_ingest(server.url, tmp_path / "target.db", store_file, mode=mode, every=10)
    assert run.finish() == 0, run.lines
    assert run.lines[:PAGES] == [f"loaded page {p}" for p in ALL_PAGES]
    assert run.lines[PAGES].startswith(f"done: mode={mode} every=10: 40 pages, 200 items")
    counts = target_counts(tmp_path / "target.db")
    assert counts == {"ids": ALL_IDS, "loads": dict.fromkeys(ALL_PAGES, 1)}
    assert task_store.items() == {}


@pytest.mark.parametrize(("mode", "every"), [("pages", 1), ("pages", 3), ("tokens", 1),
                                             ("tokens", 10)])
def test_failure_at_page_k_resumes_at_page_k(mode: str, every: int, server: PageServer,
                                             target: Target, task_store: TaskStore) -> None:
    k = 17
    api = PageApi(server.url)
    with pytest.raises(Boom):
        ingest_fn(mode, every)(api, target, fail_at(k), task_store=task_store)
    # Whatever `every`, the failed call wrote every position whose page finished: the
    # checkpoint points at page k (the page number before it, or page k's token).
    expected = k - 1 if mode == "pages" else CATALOG.token_for(k)
    assert task_store.get(KEY[mode]) == expected
    assert server.stats() == {p: 1 for p in range(1, k + 1)}
    summary = ingest_fn(mode, every)(api, target, task_store=task_store)
    api.close()
    assert summary.resumed_from == expected
    assert summary.pages == list(range(k, PAGES + 1))
    # Only page k was fetched again (its body raised after loading it); none before it.
    assert server.stats() == {p: 2 if p == k else 1 for p in ALL_PAGES}
    assert target.loads_per_page() == {p: 2 if p == k else 1 for p in ALL_PAGES}
    assert target.item_ids() == ALL_IDS  # upserted: the redone page added no duplicate
    assert task_store.items() == {}


@pytest.mark.parametrize("mode", MODES)
def test_server_outage_then_resume_on_a_restarted_server(
        mode: str, server: PageServer, target: Target, task_store: TaskStore) -> None:
    k = 12
    api = PageApi(server.url, attempts=2)

    def outage_after(page: int) -> None:
        if page == k:
            server.stop()  # the next fetch is refused, retried, then raised

    with pytest.raises(httpx.ConnectError):
        ingest_fn(mode, 1)(api, target, outage_after, task_store=task_store)
    api.close()
    # A new server process on another port: page numbers, and tokens (signed, not kept
    # in server memory), are still valid there.
    with PageServer(pages=PAGES, page_size=SIZE) as again:
        api = PageApi(again.url)
        summary = ingest_fn(mode, 1)(api, target, task_store=task_store)
        api.close()
        assert summary.pages == list(range(k + 1, PAGES + 1))
        assert again.stats() == {p: 1 for p in range(k + 1, PAGES + 1)}
    assert target.loads_per_page() == dict.fromkeys(ALL_PAGES, 1)
    assert task_store.items() == {}


@pytest.mark.parametrize("mode", MODES)
def test_changed_data_set_is_a_checkpoint_mismatch(mode: str, server: PageServer,
                                                   target: Target,
                                                   task_store: TaskStore) -> None:
    k = 30
    api = PageApi(server.url)
    with pytest.raises(Boom):
        ingest_fn(mode, 1)(api, target, fail_at(k), task_store=task_store)
    api.close()
    committed = task_store.get(KEY[mode])
    # The data set changed between tries: fewer pages (page 29 is gone), or the API
    # rotated its token key (the committed token is refused).
    pages, secret = (20, None) if mode == "pages" else (PAGES, "rotated")
    with PageServer(pages=pages, page_size=SIZE, secret=secret) as other:
        api = PageApi(other.url)
        with pytest.raises(CheckpointMismatchError) as caught:
            ingest_fn(mode, 1)(api, target, task_store=task_store)
        assert caught.value.position == committed
        assert other.stats() == {}  # nothing fetched or loaded from a guessed position
        assert task_store.get(KEY[mode]) == committed  # kept for a human to decide
        task_store.delete(KEY[mode])  # "clear the checkpoint to start over"
        summary = ingest_fn(mode, 1)(api, target, task_store=task_store)
        api.close()
    assert summary.pages == list(range(1, pages + 1))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(("change", "status"), [
    ({"--server": "not-a-url"}, 2), ({"--server": "ftp://127.0.0.1/"}, 2),
    ({"--every": "0"}, 2), ({"--every": "x"}, 2), ({"--mode": "both"}, 2),
    ({"--store-url": "nosuch://x"}, 2), ({"--server": "closed-port"}, 1)])
def test_cli_mistakes_print_one_line(change: dict[str, str], status: int,
                                     tmp_path: Path) -> None:
    args = {"--server": "http://127.0.0.1:9", "--target": str(tmp_path / "t.db"),
            "--store-url": f"sqlite:///{tmp_path / 's.db'}", "--mode": "pages",
            "--every": "1", **change}
    if args["--server"] == "closed-port":  # a real refusal: retried, then exit 1
        args["--server"] = f"http://127.0.0.1:{_closed_port()}"
    argv = [sys.executable, "-m", "examples.paginated_ingest.ingest"]
    argv += [part for pair in args.items() for part in pair]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == status, done.stderr
    assert done.stdout == ""
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and "Traceback" not in line
