"""Signing in and out, password resets, invitations and the account page."""

from flask import Blueprint

bp = Blueprint("auth", __name__)
