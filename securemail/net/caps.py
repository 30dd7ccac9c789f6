"""Caps on sessions per user, counted in this process only: each node of a cluster counts
its own sessions, so a user may hold up to the cap on every node (as with Dovecot's
mail_max_userip_connections, counted by each server's anvil)."""

from collections import Counter


class SessionCaps:
    """How many logged-in sessions each user holds on this node's listeners of one protocol.

    A session takes a slot after a successful login and gives it back when it ends; a login
    beyond `limit` (0: no limit) is refused and the session stays unauthenticated.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held: Counter[int] = Counter()

    def acquire(self, user_id: int) -> bool:
        """Take a slot for `user_id`; False (and nothing taken) when the user is at the cap."""
        if self.limit > 0 and self.held[user_id] >= self.limit:
            return False
        self.held[user_id] += 1
        return True

    def release(self, user_id: int) -> None:
        self.held[user_id] -= 1
        if self.held[user_id] <= 0:
            del self.held[user_id]
