"""The reliability fault driver on object-store roots, killed at a chosen object write.

`python -m tests.s3.kill_driver ROOT [FRAGMENT N WHEN]` runs `tests.reliability.fault_driver` (roots
from NIGHTWATCH_DATA_ROOT / NIGHTWATCH_MODELS_ROOT) and SIGKILLs itself just before or after the
N-th whole-object PUT whose URL contains FRAGMENT (object stores have no rename to count)."""
from __future__ import annotations

import sys

from pipeline.io.store import ObjectPath
from tests.reliability import fault_driver


def arm(fragment: str, nth: int, when: str) -> None:
    real, hits = ObjectPath.write_bytes, [0]

    def write_bytes(self: ObjectPath, data: bytes) -> None:
        hit = fragment in self.url and (hits.__setitem__(0, hits[0] + 1) or hits[0] == nth)
        if hit and when == "before":
            fault_driver.die()
        real(self, data)
        if hit and when == "after":
            fault_driver.die()

    ObjectPath.write_bytes = write_bytes


if __name__ == "__main__":
    root, *kill = sys.argv[1:]
    if kill:
        arm(kill[0], int(kill[1]), kill[2])
    fault_driver.main(root)
