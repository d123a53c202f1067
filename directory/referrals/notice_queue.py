"""Notices waiting to be mailed: one Redis list, emptied in batches by one task message at a time.

Each committed change (a routed referral has a new offer and a new status) used to send a Celery
task of its own, so a routed referral cost the broker and the worker two messages: publishing,
reserving, handing to a process and acknowledging the second one took about a third of the
worker's CPU per referral (docs/benchmarks.md). Now a change's notices (ids only, as before)
are appended to a list, and a drain task is sent only when none is waiting already: whatever
arrives until the drain starts rides on that one message. Under load many changes share a
drain; when idle, each change still sends one at once, so a mail is not held back.

A drain takes notices with RPOPLPUSH into a list of its own (named after its task id) and
removes them only once mailed; if its process is killed, the same task is delivered again
(acks_late) and mails what its list still holds first. So a notice is mailed at least once,
as before; a database failure midway keeps just what is left for the retry.

A drain whose task gives up (its retries ran out while the database or the mail server was
down) leaves what it took in its list; beat's round puts what a drain has held for over an
hour back in the queue (`reclaim`), so an outage delays mail but does not drop it.

Redis, not the database, holds the waiting notices, as the broker held the per-change task
messages before: a Redis that loses its data loses queued mail, never a referral or an offer.
Notices that cannot be pushed here when their change commits (Redis down or not answering) are
held in the database instead, and beat's round pushes them once Redis answers
(`dispatch.send_held_notices`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from directory.referrals.notifications import Notices

WAITING = "directory:notices"
#: Set while a drain task is sent and not yet started; it expires in case that message is lost.
SCHEDULED = "directory:notices:scheduled"
SCHEDULED_SECONDS = 600
#: A drain's own list; it expires if that drain's message is lost for good (kept a day to be safe).
TAKEN = "directory:notices:taken:{}"
TAKEN_SECONDS = 24 * 3600
#: The drains holding notices, each scored by when it took them or last kept what was left.
HOLDERS = "directory:notices:holders"
#: A drain holding notices this long has given up: a drain mails at most DRAIN_BATCH changes,
#: and its retries (tasks/notifications.py) are over within minutes.
RECLAIM_SECONDS = 3600


def encode(notices: Notices) -> str:
    return json.dumps([list(notices.new_offer_ids), list(notices.changed_referral_ids)])


def decode(item: bytes | str) -> Notices:
    offer_ids, referral_ids = json.loads(item)
    return Notices(tuple(int(i) for i in offer_ids), tuple(str(r) for r in referral_ids))


def merge(batch: Iterable[Notices]) -> Notices:
    """One set of notices for a batch: every offer once, every changed referral once (in order).

    A referral whose status changed twice while waiting gets one mail: the mail says only that
    its status changed and links to it, so a second one would say nothing new.
    """
    offers: dict[int, None] = {}
    referrals: dict[str, None] = {}
    for notices in batch:
        offers.update(dict.fromkeys(notices.new_offer_ids))
        referrals.update(dict.fromkeys(notices.changed_referral_ids))
    return Notices(tuple(offers), tuple(referrals))


class NoticeQueue:
    """The waiting notices in Redis (`client`: a redis-py client)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def push(self, notices: Notices) -> bool:
        """Queue one change's notices; True if no drain is waiting, so the caller must send one."""
        pipe = self.client.pipeline(transaction=True)
        pipe.lpush(WAITING, encode(notices))  # newest first: drains take from the other end
        pipe.set(SCHEDULED, 1, nx=True, ex=SCHEDULED_SECONDS)
        _, scheduled = pipe.execute()
        return bool(scheduled)

    def schedule(self) -> bool:
        """Claim the sending of a drain for notices waiting without one; True if the caller must send it."""
        return bool(self.waiting()) and bool(self.client.set(SCHEDULED, 1, nx=True, ex=SCHEDULED_SECONDS))

    def unschedule(self) -> None:
        """No drain is waiting any more: it has started, or could not be sent."""
        self.client.delete(SCHEDULED)

    def waiting(self) -> int:
        return int(self.client.llen(WAITING))

    def taken(self, drain_id: str) -> list[Notices]:
        """What this drain took and has not finished mailing (after its process was killed, or a retry)."""
        items = self.client.lrange(TAKEN.format(drain_id), 0, -1)
        return [decode(item) for item in reversed(items)]  # RPOPLPUSH put the newest first

    def take(self, drain_id: str, count: int, *, now: float | None = None) -> list[Notices]:
        """Move up to `count` of the oldest waiting notices to this drain's own list, and return them."""
        key = TAKEN.format(drain_id)
        pipe = self.client.pipeline(transaction=True)
        for _ in range(count):
            pipe.rpoplpush(WAITING, key)
        pipe.expire(key, TAKEN_SECONDS)
        pipe.zadd(HOLDERS, {drain_id: time.time() if now is None else now})
        return [decode(item) for item in pipe.execute()[:-2] if item is not None]  # oldest first

    def keep_only(self, drain_id: str, left: Notices, *, now: float | None = None) -> None:
        """Replace what this drain holds by what is `left` to mail (nothing, when it is all mailed)."""
        key = TAKEN.format(drain_id)
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(key)
        if left:
            pipe.rpush(key, encode(left))
            pipe.expire(key, TAKEN_SECONDS)
            pipe.zadd(HOLDERS, {drain_id: time.time() if now is None else now})
        else:
            pipe.zrem(HOLDERS, drain_id)
        pipe.execute()

    def reclaim(self, *, older_than: float = RECLAIM_SECONDS, now: float | None = None) -> int:
        """Put back in the queue, to be mailed first, what drains have held for over `older_than`
        seconds (they gave up); how many changes' notices went back."""
        now = time.time() if now is None else now
        moved = 0
        for drain_id in self.client.zrangebyscore(HOLDERS, "-inf", now - older_than):
            key = TAKEN.format(drain_id.decode() if isinstance(drain_id, bytes) else drain_id)
            # One at a time, each move atomic: nothing is lost if this stops midway. The drain's
            # newest goes first to the queue's oldest end, so they keep their order there.
            while self.client.lmove(key, WAITING, "LEFT", "RIGHT") is not None:
                moved += 1
            self.client.zrem(HOLDERS, drain_id)
        return moved
