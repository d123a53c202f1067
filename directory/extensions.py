"""Extension objects, created unbound and bound to the app in `create_app`."""

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy_lite import SQLAlchemy
from flask_wtf import CSRFProtect

db = SQLAlchemy()
babel = Babel()
csrf = CSRFProtect()
login_manager = LoginManager()
#: Storage from RATELIMIT_STORAGE_URI: Redis when REDIS_URL is set, in-process memory otherwise.
limiter = Limiter(key_func=get_remote_address)
