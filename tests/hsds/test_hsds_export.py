"""`flask centers export PATH --format hsds`: the directory as HSDS services, one JSON object a line."""

from __future__ import annotations

import csv
import json

import pytest

from directory.sources import hsds
from tests.hsds.schemas import assert_valid


def export(runner, path, *options: str):
    result = runner.invoke(args=["centers", "export", str(path), *options])
    assert result.exit_code == 0, result.output
    return result


def test_every_listing_is_a_valid_full_service_on_a_line_of_its_own(runner, client, listings, tmp_path):
    result = export(runner, tmp_path / "directory.ndjson", "--format", "hsds")

    lines = (tmp_path / "directory.ndjson").read_text(encoding="utf-8").splitlines()
    services = [json.loads(line) for line in lines]
    for service in services:
        assert_valid(service, "service.json")
    assert [s["id"] for s in services] == [hsds.listing_uuid("service", i) for i in sorted(listings.values())]
    assert {s["name"]: s["status"] for s in services}["Gone Center"] == "inactive"
    assert "Exported 4 HSDS services" in result.output and "1 superseded listings as inactive" in result.output
    # The same objects as the API's, ids and all.
    assert services == client.get("/hsds/services?full=true").get_json()["contents"]


def test_the_default_format_is_still_the_projects_csv_without_superseded_listings(runner, listings, tmp_path):
    result = export(runner, tmp_path / "directory.csv")

    with open(tmp_path / "directory.csv", encoding="utf-8", newline="") as stream:
        names = {row["name"] for row in csv.DictReader(stream)}
    assert names == {"Lakeshore Recovery", "Westside Clinic", "Milwaukee Place"}
    assert "Exported 3 centers" in result.output and "1 superseded listings left out" in result.output


def test_an_unknown_format_is_refused_naming_the_accepted_ones(runner, tmp_path):
    result = runner.invoke(args=["centers", "export", str(tmp_path / "out"), "--format", "xml"])
    assert result.exit_code == 2
    assert "'centers'" in result.output and "'hsds'" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_nationwide_directory_exports_valid_services(seeded_app, tmp_path):
    result = export(seeded_app.test_cli_runner(), tmp_path / "directory.ndjson", "--format", "hsds")

    lines = (tmp_path / "directory.ndjson").read_text(encoding="utf-8").splitlines()
    assert f"Exported {len(lines)} HSDS services" in result.output and len(lines) > 10_000
    for line in lines[::40]:
        assert_valid(json.loads(line), "service.json")
    ids = [json.loads(line)["id"] for line in lines]
    assert len(set(ids)) == len(ids)
