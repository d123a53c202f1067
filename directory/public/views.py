"""Public pages: thin views over the search code."""

from __future__ import annotations

from flask import abort, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from directory.extensions import db
from directory.models import Center
from directory.models.base import utcnow
from directory.public import bp
from directory.public.forms import SearchForm
from directory.public.helpers import found_by
from directory.search.query import confirmed_since
from directory.search.service import find_centers_near
from directory.sources.provenance import directory_currency


@bp.get("/")
def home() -> ResponseReturnValue:
    """The search box, with any place and filters in the query string already filled in, and how
    current the directory is."""
    now = utcnow()
    currency = directory_currency(db.session, now, confirmed_since(now))
    return render_template("public/home.html", form=SearchForm(formdata=request.args or None), currency=currency)


@bp.get("/search")
def search() -> ResponseReturnValue:
    """Results for a place and filters; the form again with messages if something was wrong."""
    form = SearchForm(formdata=request.args)
    if not form.validate():
        return render_template("public/home.html", form=form), 400
    now = utcnow()
    result = find_centers_near(db.session, form.to_query(), now=now)
    return render_template("public/results.html", form=form, result=result, now=now)


@bp.get("/centers/<slug>")
def center_profile(slug: str) -> ResponseReturnValue:
    """One center's profile, in plain words; opened from results (the search in the query string),
    with its distance from the place searched and a link back to them."""
    center = db.session.scalar(select(Center).where(Center.slug == slug))
    if center is None:
        abort(404)
    opened_from = None
    if request.args:
        form = SearchForm(formdata=request.args)
        if form.validate():  # anything else (a link edited by hand): the plain profile
            opened_from = found_by(form, center)
    return render_template("public/center.html", center=center, now=utcnow(), found_by=opened_from)


@bp.get("/naltrexone")
def naltrexone() -> ResponseReturnValue:
    """What naltrexone treatment is, in the project's own words."""
    return render_template("public/naltrexone.html")
