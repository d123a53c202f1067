"""Referral staff pages: the intake form, the list of referrals, and one referral's plan and timeline."""

from flask import Blueprint

bp = Blueprint("staff", __name__)
