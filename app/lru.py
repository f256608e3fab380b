"""A least-recently-used cache bounded by the total weight of what it keeps (in-process caches)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable


class WeightedLRU:
    """Least recently used entries go first once their weights add up to more than `size`.

    `weigh(key, value)` says what an entry costs: a count of items, characters, bytes.
    Thread-safe: gunicorn's threads share one per process."""

    def __init__(self, size: int, weigh: Callable[[Hashable, object], int]) -> None:
        self.size = size
        self.weight = 0
        self._weigh = weigh
        self._entries: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> object | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def get_or_make(self, key: Hashable, make: Callable[[], object]) -> object:
        """The kept value, or `make()`'s, kept. Made outside the lock: two threads missing at
        once both make it, and the second one's is kept."""
        value = self.get(key)
        if value is None:
            value = make()
            self.put(key, value)
        return value

    def put(self, key: Hashable, value: object) -> None:
        weight = self._weigh(key, value)
        if weight > self.size:
            return  # it would push out everything else and then itself
        with self._lock:
            old = self._entries.pop(key, None)
            self.weight += weight - (old[1] if old else 0)
            self._entries[key] = (value, weight)
            while self.weight > self.size and self._entries:
                _, (_, dropped) = self._entries.popitem(last=False)
                self.weight -= dropped

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.weight = 0
