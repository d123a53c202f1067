"""The app's own files: the instance folder and what the app writes there (the SQLite database,
the mail outbox, the secret key) are readable by their owner only.

Without SECRET_KEY, the app signs sessions with a random key it makes once in the instance folder
(`secret_key`) and reads again at every start, so no two installations share a key.
"""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
from pathlib import Path

from sqlalchemy import make_url

KEY_FILE = "secret_key"
#: A new key's length: 32 random bytes, written as 64 hexadecimal characters.
KEY_BYTES = 32
#: How to make a key for SECRET_KEY, as messages about it say.
MAKE_A_KEY = "python -c 'import secrets; print(secrets.token_hex(32))'"


def make_private_folder(path: str | os.PathLike[str]) -> None:
    """Create a folder (and any missing parents) that only its owner can list or enter; take
    group and other permissions away from an existing folder of this user's."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    _take_away_group_and_other(path)


def write_private_file(path: str | os.PathLike[str], content: bytes) -> None:
    """Write a new file that only its owner can read (refuses to replace an existing one)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)


def make_sqlite_database_private(database_url: str) -> None:
    """For a SQLite file: create it empty with owner-only permissions if it is missing (SQLite
    gives its -wal and -shm files the database file's permissions), or narrow those of an existing
    file of this user's, and of its -wal and -shm files, to its owner. Other databases: nothing."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:" or url.query:
        return  # in memory, or a URI filename with options of its own
    path = Path(url.database)
    if not path.exists():
        if not path.parent.is_dir():
            return  # SQLite will say the folder is missing
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))  # a file of no bytes is an empty database
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            _take_away_group_and_other(file)


def secret_key(instance_path: str | os.PathLike[str]) -> tuple[str, bool]:
    """The key kept in the instance folder, and whether this call made it.

    A new key is written whole to a temporary file first, then linked to its name, which fails if
    the name exists: of several processes starting at once, one key wins and all read it."""
    path = Path(instance_path) / KEY_FILE
    if path.exists():
        return _read_key(path), False
    descriptor, temporary = tempfile.mkstemp(dir=instance_path, prefix=f".{KEY_FILE}-")  # mode 0600
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_hex(KEY_BYTES) + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
            made = True
        except FileExistsError:
            made = False
    finally:
        os.unlink(temporary)
    return _read_key(path), made


def _read_key(path: Path) -> str:
    _take_away_group_and_other(path)
    key = path.read_text().strip()
    if len(key) < KEY_BYTES:
        raise ValueError(
            f"{path} holds no usable secret key ({len(key)} characters; a key is at least {KEY_BYTES}): "
            f"delete the file to have a new one made (everyone is signed out), or set SECRET_KEY, "
            f"e.g. to the output of {MAKE_A_KEY}"
        )
    return key


def _take_away_group_and_other(path: str | os.PathLike[str]) -> None:
    """Owner-only permissions for a file or folder of this user's (another user's is left alone)."""
    status = os.stat(path)
    if status.st_uid == os.geteuid() and status.st_mode & 0o077:
        os.chmod(path, stat.S_IMODE(status.st_mode) & ~0o077)
