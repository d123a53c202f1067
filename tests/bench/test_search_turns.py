"""The search benchmark's turns: each search timed several times, its time the median of them."""

from __future__ import annotations

import time

from sqlalchemy.orm import Session

from bench.queries import BenchQuery
from bench.report import spread, turn_ratios
from bench.search import FULL_SCAN, PAGE_LOAD, SEARCH, median_of_turns, time_in_turns
from directory.search.geocoding import Place
from directory.search.service import SearchQuery


def workload(n: int) -> list[BenchQuery]:
    origin = Place(label="19104", latitude=39.96, longitude=-75.19)
    return [BenchQuery(zip="19104", filter_label="none", query=SearchQuery(origin=origin)) for _ in range(n)]


def test_fast_measurements_take_every_turn_and_keep_the_median():
    calls = {SEARCH: [], PAGE_LOAD: [], FULL_SCAN: []}
    # The search stalls in its second turn on every search: the median leaves the stall out.
    # (A stall far beyond what a busy machine adds to a 1 ms sleep: CI once saw 20 ms.)
    stall = {SEARCH: {1: 0.25}, PAGE_LOAD: {}, FULL_SCAN: {}}

    def measurement(name):
        def run(i, query):
            turn = sum(1 for j in calls[name] if j == i)
            calls[name].append(i)
            time.sleep(stall[name].get(turn, 0.001))
            return i

        return run

    checked = []
    turns = time_in_turns(
        Session(),
        {name: measurement(name) for name in calls},
        workload(4),
        warmup=0,
        check=lambda i, bench_query, answers: checked.append((i, answers)),
        log=lambda message: None,
        repeats=3,
    )
    times = {m: median_of_turns(t).tolist() for m, t in turns.items()}
    assert [len(calls[m]) for m in (SEARCH, PAGE_LOAD, FULL_SCAN)] == [12, 12, 4]
    assert [len(turns[m]) for m in (SEARCH, PAGE_LOAD, FULL_SCAN)] == [3, 3, 1]
    assert all(len(turn) == 4 for m in turns for turn in turns[m])
    assert min(turns[SEARCH][1]) >= 0.25  # the stalled turn was recorded ...
    assert max(times[SEARCH]) < 0.08  # ... and left out of each search's time (a mean would be above it)
    assert times[FULL_SCAN] == turns[FULL_SCAN][0]
    # Each search is checked once, with every measurement's answer from the first turn.
    assert checked == [(i, {SEARCH: i, PAGE_LOAD: i, FULL_SCAN: i}) for i in range(4)]


def test_turn_ratios_pair_a_single_turn_with_every_turn():
    turns = {
        SEARCH: [[2.0, 4.0], [3.0, 5.0]],
        PAGE_LOAD: [[1.0, 2.0], [1.0, 2.0]],
        FULL_SCAN: [[300.0, 500.0]],
    }
    # p50 of the search over p50 of the raw query: turn 1 3/1.5, turn 2 4/1.5.
    assert turn_ratios(turns, SEARCH, PAGE_LOAD, 50) == [2.0, 4.0 / 1.5]
    assert turn_ratios(turns, FULL_SCAN, SEARCH, 50) == [400 / 3.0, 400 / 4.0]
    assert spread(turns, SEARCH, PAGE_LOAD).startswith("2-2.67x / ")
    assert spread({SEARCH: [[1.0]], PAGE_LOAD: [[1.0]]}, SEARCH, PAGE_LOAD) == "-"
