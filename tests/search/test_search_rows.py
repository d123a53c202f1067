"""The search rows (migration 0007): the same code numbering as the search, and kept in step with every write."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import delete, insert, select, text, update

from directory.models import Center, CenterAttribute
from directory.search.cache import read_directory_revision
from directory.search.engine import SearchFilters, SearchQuery, find_centers_near, matching_center_distances
from directory.search.geocoding import Place
from directory.search.listing import load_listings
from directory.search.masks import ACCEPTING_REFERRALS, FILTER_BITS, MASKED_KINDS
from directory.sources.loader import BATCH_SIZE, import_rows
from directory.sources.records import ParsedRow
from directory.vocabulary import ATTRIBUTE_VOCABULARIES
from tests.factories import add_centers, center_record


def expected_rows(session) -> dict[int, tuple[float, float, int]]:
    """Each center's point and mask computed from its rows, in Python."""
    masks, points = {}, {}
    for center_id, lat, lon, accepting in session.execute(
        select(Center.id, Center.latitude, Center.longitude, Center.accepting_referrals)
    ):
        masks[center_id] = ACCEPTING_REFERRALS if accepting else 0
        points[center_id] = (lat, lon)
    for center_id, kind, code in session.execute(
        select(CenterAttribute.center_id, CenterAttribute.kind, CenterAttribute.code)
    ):
        if (kind, code) in FILTER_BITS:
            masks[center_id] |= 1 << FILTER_BITS[kind, code]
    return {center_id: (*points[center_id], mask) for center_id, mask in masks.items()}


def stored_rows(session) -> dict[int, tuple[float, float, int]]:
    rows = session.execute(text("SELECT center_id, latitude, longitude, mask FROM center_search_rows"))
    return {center_id: (lat, lon, mask) for center_id, lat, lon, mask in rows}


def assert_in_step(session) -> None:
    session.flush()
    assert stored_rows(session) == expected_rows(session)


def test_the_database_numbers_the_codes_as_the_search_does(session):
    """Fails when a vocabulary gains a code without a migration that gives it a bit."""
    in_database = {
        (kind, code): bit for kind, code, bit in session.execute(text("SELECT kind, code, bit FROM filter_bits"))
    }
    assert in_database == FILTER_BITS
    assert set(FILTER_BITS) == {(kind, code) for kind in MASKED_KINDS for code in ATTRIBUTE_VOCABULARIES[kind]}
    assert max(FILTER_BITS.values()) < 62  # below the accepting-referrals bit


def test_search_rows_follow_imports_edits_and_deletions(session):
    rng = random.Random(7)

    def random_codes(kind: str) -> list[str]:
        return rng.sample(list(ATTRIBUTE_VOCABULARIES[kind]), rng.randint(0, 4))

    def record(n: int, **fields):
        codes = {kind: random_codes(kind) for kind in ATTRIBUTE_VOCABULARIES}
        return center_record(external_id=f"mask:{n}", accepting_referrals=rng.random() < 0.5, **codes, **fields)

    add_centers(session, *(record(n) for n in range(40)))
    assert_in_step(session)

    # Re-import: updates by external id, changing codes and acceptance.
    report = import_rows(session, (ParsedRow(i + 2, record(n), []) for i, n in enumerate(range(0, 40, 2))), "test")
    assert report.written
    assert_in_step(session)

    centers = session.scalars(select(Center).order_by(Center.id)).all()
    for center in centers[:15]:  # as the portal and the API edit a center
        for kind in MASKED_KINDS:
            center.set_codes(kind, random_codes(kind))
        center.accepting_referrals = not center.accepting_referrals
    centers[3].latitude, centers[3].longitude = 40.7128, -74.0060  # moved (a corrected address)
    assert_in_step(session)

    # Raw SQL, as a bulk fix-up or another program would write.
    first = centers[20].id
    session.execute(delete(CenterAttribute).where(CenterAttribute.center_id == first))
    session.execute(insert(CenterAttribute).values(center_id=first, kind="medications", code="methadone"))
    second, third = centers[21].id, centers[22].id
    populations = CenterAttribute.kind == "populations"
    session.execute(delete(CenterAttribute).where(CenterAttribute.center_id.in_([second, third]), populations))
    session.execute(insert(CenterAttribute).values(center_id=second, kind="populations", code="veterans"))
    assert_in_step(session)
    session.execute(  # one row moved to another center and code: both centers' masks change
        update(CenterAttribute)
        .where(CenterAttribute.center_id == second, populations)
        .values(center_id=third, code="trauma")
    )
    session.execute(update(Center).where(Center.id < first).values(accepting_referrals=True))
    session.expire_all()
    assert_in_step(session)

    for center in centers[30:]:
        session.delete(center)
    assert_in_step(session)
    session.execute(delete(Center).where(Center.id == centers[25].id))
    session.commit()
    assert_in_step(session)
    assert centers[25].id not in stored_rows(session)


def test_a_bulk_import_of_many_batches_leaves_every_search_row_right_and_bumps_the_revision(session):
    """Imports write each batch in few statements (one per table on PostgreSQL), and the
    triggers' statements are planned while the tables are still empty: every mask must still
    be right, for centers created, updated by a re-import, and created by it."""
    rng = random.Random(11)

    def record(n: int):
        codes = {kind: rng.sample(list(ATTRIBUTE_VOCABULARIES[kind]), rng.randint(0, 4)) for kind in MASKED_KINDS}
        return center_record(
            external_id=f"bulk:{n}",
            latitude=rng.uniform(25, 49),
            longitude=rng.uniform(-124, -67),
            accepting_referrals=rng.random() < 0.5,
            languages=rng.sample(["es", "asl", "vi"], rng.randint(0, 2)),
            **codes,
        )

    def import_records(numbers) -> None:
        rows = (ParsedRow(i + 2, record(n), []) for i, n in enumerate(numbers))
        assert import_rows(session, rows, "bulk.csv").written

    first = 2 * BATCH_SIZE + 37
    before = read_directory_revision(session)
    import_records(range(first))
    assert len(stored_rows(session)) == first
    assert_in_step(session)
    assert read_directory_revision(session) > before

    before = read_directory_revision(session)
    import_records(range(first - BATCH_SIZE, first + BATCH_SIZE))  # half updated by external id, half new
    assert len(stored_rows(session)) == first + BATCH_SIZE
    assert_in_step(session)
    assert read_directory_revision(session) > before


@pytest.mark.parametrize(
    "filters",
    [
        SearchFilters(medication=("naltrexone",)),
        SearchFilters(payment=("medicaid", "medicare")),
        SearchFilters(level_of_care=("medical_detox",), payment=("medicaid",)),
        SearchFilters(pathway="detox_naltrexone"),
        SearchFilters(population=("veterans",), accepting_referrals=True),
        SearchFilters(accepting_referrals=False),
        SearchFilters(language=("es",), medication=("buprenorphine",)),
        SearchFilters(level_of_care=("not_a_code",)),
    ],
)
def test_searches_through_the_masks_agree_with_the_attribute_rows(seeded_session, filters):
    """The masked search against the same filters written as EXISTS on the attribute rows."""
    origin = Place("Columbus, OH", 39.9612, -82.9988)
    query = SearchQuery(origin, radius_miles=150, filters=filters, per_page=100)
    codes: dict[int, set[tuple[str, str]]] = {}
    for center_id, kind, code in seeded_session.execute(
        select(CenterAttribute.center_id, CenterAttribute.kind, CenterAttribute.code)
    ):
        codes.setdefault(center_id, set()).add((kind, code))
    accepting = dict(seeded_session.execute(select(Center.id, Center.accepting_referrals)).all())
    expected = {i for i in accepting if _passes(codes.get(i, set()), accepting[i], filters)}
    ids, _ = matching_center_distances(seeded_session, query)
    assert set(ids) <= expected
    result = find_centers_near(seeded_session, query)
    assert result.total == len(ids)
    assert [hit.center.id for hit in result.hits] == ids[:100]
    everywhere = matching_center_distances(seeded_session, SearchQuery(origin, radius_miles=500, filters=filters))[0]
    assert set(everywhere) == expected & set(_within(seeded_session, origin, 500))


def _passes(codes: set[tuple[str, str]], accepting: bool, filters: SearchFilters) -> bool:

    def has(kind: str, wanted: tuple[str, ...]) -> bool:
        return not wanted or any((kind, code) in codes for code in wanted)

    medications = tuple(
        code for want in filters.medication
        for code in (("naltrexone_oral", "naltrexone_injectable") if want == "naltrexone" else (want,))
    )  # fmt: skip
    return (
        has("levels_of_care", filters.level_of_care)
        and has("payment_options", filters.payment)
        and has("medications", medications)
        and has("populations", filters.population)
        and has("languages", filters.language)
        and (filters.accepting_referrals is None or accepting == filters.accepting_referrals)
        and (
            filters.pathway is None
            or (
                has("levels_of_care", ("medical_detox",))
                and has("medications", ("naltrexone_oral", "naltrexone_injectable"))
            )
        )
    )


def _within(session, origin: Place, radius: float) -> list[int]:
    return matching_center_distances(session, SearchQuery(origin, radius_miles=radius))[0]


def test_listings_show_every_code_of_every_kind(seeded_session):
    """A listing reads the small vocabularies from the mask and languages from the rows: the
    same codes as the center's own."""
    ids = seeded_session.scalars(select(Center.id).order_by(Center.id).limit(400)).all()
    listings = load_listings(seeded_session, ids)
    for center in seeded_session.scalars(select(Center).where(Center.id.in_(ids))):
        for kind in ATTRIBUTE_VOCABULARIES:
            assert listings[center.id].codes(kind) == sorted(center.codes(kind)), (center.id, kind)
