"""Public pages: thin views over the search code."""

from __future__ import annotations

import time
from pathlib import Path

from flask import (
    Response,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_limiter import RequestLimit
from sqlalchemy import select

from directory.extensions import db, limiter
from directory.i18n import translate
from directory.models import Center
from directory.models.base import utcnow
from directory.public import bp
from directory.public.forms import ReportForm, SearchForm
from directory.public.helpers import MEDICATION_SECTIONS, found_by, searched_place
from directory.search.query import confirmed_since
from directory.search.service import MAX_RADIUS_MILES, find_centers_near, nearest_match
from directory.sources.provenance import directory_currency
from directory.upkeep import exposure, reports

#: Reports one address may send (each POST counts, accepted or not).
REPORTS_PER_HOUR, REPORTS_PER_DAY = 5, 20
REPORTS_PER_ADDRESS = f"{REPORTS_PER_HOUR} per hour;{REPORTS_PER_DAY} per day"

#: Where `npm ci` installs the front-end packages of package.json (scripts/run.sh, the Dockerfile).
NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"
#: The maps' files from those packages, by the name each is served at (/vendor/<name>).
FRONTEND_FILES = {
    "leaflet.js": "leaflet/dist/leaflet.js",
    "leaflet.css": "leaflet/dist/leaflet.css",
    "topojson-client.js": "topojson-client/dist/topojson-client.min.js",
    "states-10m.json": "us-atlas/states-10m.json",
}


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
    nearest = nearest_match(db.session, result.query, now=now) if result.total == 0 else None
    reported = reports.reported_since(db.session, [hit.center.id for hit in result.hits])
    return render_template(
        "public/results.html",
        form=form,
        result=result,
        now=now,
        reported=reported,
        nearest=nearest,
        widest_miles=MAX_RADIUS_MILES,
    )


@bp.get("/centers/<slug>")
def center_profile(slug: str) -> ResponseReturnValue:
    """One center's profile, in plain words; opened from results (the search in the query string),
    with its distance from the place searched and a link back to them."""
    center = _center_or_404(slug)
    now = utcnow()
    opened_from = None
    if request.args:
        form = SearchForm(formdata=request.args)
        if form.validate():  # anything else (a link edited by hand): the plain profile
            opened_from = found_by(form, center)
    reported = reports.reported_since(db.session, [center.id]).get(center.id)
    exposure.count_profile_view(db.session, center.id, now.date())
    db.session.commit()
    return render_template("public/center.html", center=center, now=now, found_by=opened_from, reported=reported)


@bp.get("/vendor/<name>")
def frontend_file(name: str) -> ResponseReturnValue:
    """One of the maps' files (Leaflet, the state outlines), from the installed npm packages."""
    if name not in FRONTEND_FILES:
        abort(404)
    return send_from_directory(NODE_MODULES, FRONTEND_FILES[name])


def _center_or_404(slug: str) -> Center:
    center = db.session.scalar(select(Center).where(Center.slug == slug))
    if center is None:
        abort(404)
    return center


def _too_many_reports(limit: RequestLimit) -> Response:
    """The 429 page of the report form: when the address may send a report again."""
    minutes = max(1, round((limit.reset_at - time.time()) / 60))
    if minutes < 120:
        wait = ngettext("%(num)s minute", "%(num)s minutes", minutes)
    else:
        wait = _("%(num)s hours", num=round(minutes / 60))
    message = _(
        "Too many reports from your connection in a short time (at most %(hour)s an hour and %(day)s a day). "
        "Please try again in %(wait)s. Thank you for helping keep the directory right.",
        hour=REPORTS_PER_HOUR,
        day=REPORTS_PER_DAY,
        wait=wait,
    )
    return make_response(render_template("error.html", status=429, message=message), 429)


def _report_accepted(response: Response) -> bool:
    """The report form's answer to a report it filed (a redirect): only these count toward the limit."""
    return response.status_code == 302


@bp.route("/centers/<slug>/report", methods=["GET", "POST"])
@limiter.limit(REPORTS_PER_ADDRESS, methods=["POST"], on_breach=_too_many_reports, deduct_when=_report_accepted)
def report_listing(slug: str) -> ResponseReturnValue:
    """Tell the center and the directory's administrators what is out of date on a listing; no account needed."""
    center = _center_or_404(slug)
    form = ReportForm()
    if form.validate_on_submit():
        try:
            reports.file_report(db.session, center.id, form.reason.data, form.note.data, now=utcnow())
        except reports.ReportError as error:
            db.session.rollback()
            for name, messages in error.fields.items():
                form[name].errors = [*form[name].errors, *map(translate, messages)]
        else:
            db.session.commit()
            flash(_("Thank you. Your report went to the center and to the directory's administrators."))
            return redirect(url_for("public.center_profile", slug=center.slug))
    status = 400 if request.method == "POST" else 200
    return render_template("public/report.html", center=center, form=form), status


@bp.get("/medications")
def medications() -> ResponseReturnValue:
    """Medications for opioid use disorder (buprenorphine, methadone, naltrexone) in plain words, each
    with a search for centers offering it near the place the person searched, if any."""
    place = searched_place(request.args.get("near"), request.args.get("radius_miles"))
    endpoint = "public.search" if place else "public.home"
    searches = {name: url_for(endpoint, **place, medication=name) for name in MEDICATION_SECTIONS}
    searches["detox_naltrexone"] = url_for(endpoint, **place, pathway="detox_naltrexone")
    return render_template("public/medications.html", place=place.get("near"), searches=searches)


@bp.get("/naltrexone")
def naltrexone() -> ResponseReturnValue:
    """The page about naltrexone is the naltrexone section of the medications page."""
    place = searched_place(request.args.get("near"), request.args.get("radius_miles"))
    return redirect(url_for("public.medications", **place) + "#naltrexone", 301)
