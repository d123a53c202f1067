"""The naltrexone explainer and the ways to it."""

from tests.public.pages import Page


def test_the_naltrexone_page_covers_what_a_person_needs_to_know(client):
    response = client.get("/naltrexone")
    text = Page(response.data).main().text

    assert response.status_code == 200
    for words in [
        "blocks opioid receptors",
        "once a day",
        "once a month",
        "Vivitrol",
        "7 to 10 days",
        "7 days after short-acting opioids",
        "heroin or oxycodone",
        "10 days after long-acting ones",
        "methadone or buprenorphine",
        "fentanyl",
        "sudden, severe withdrawal",
        "medical detox",
        "counseling",
        "liver",
        "fatal overdose",
        "information, not medical advice",
        "Talk to a doctor, nurse or other clinician",
    ]:
        assert words in text, words


def test_the_naltrexone_page_links_to_a_search_with_naltrexone_ticked(client):
    page = Page(client.get("/naltrexone").data).main()

    search = page.link("offering naltrexone")
    assert search.path == "/" and search.params == {"medication": ["naltrexone"]}
    home = Page(client.get(search.href).data)
    assert home.checked("medication") == ["naltrexone"]

    pathway = page.link("medical detox and naltrexone")
    assert Page(client.get(pathway.href).data).checked("pathway") == ["detox_naltrexone"]


def test_the_search_form_links_to_the_naltrexone_page(client):
    page = Page(client.get("/").data).main()

    assert page.links_to("/naltrexone")
