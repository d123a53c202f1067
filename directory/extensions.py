"""Extension objects, created unbound and bound to the app in `create_app`."""

from flask_sqlalchemy_lite import SQLAlchemy
from flask_wtf import CSRFProtect

db = SQLAlchemy()
csrf = CSRFProtect()
