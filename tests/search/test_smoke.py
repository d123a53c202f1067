from directory.search.engine import SearchQuery, find_centers_near
from directory.search.geocoding import OfflineGeocoder
from tests.factories import add_centers, center_record


def test_finds_a_center_near_its_zip(session):
    add_centers(
        session, center_record(name="Loop Recovery"), center_record(name="Far Away", latitude=30.0, longitude=-90.0)
    )
    origin = OfflineGeocoder().locate("60601")
    result = find_centers_near(session, SearchQuery(origin=origin, radius_miles=10))
    assert [h.center.name for h in result.hits] == ["Loop Recovery"]
    assert result.total == 1
