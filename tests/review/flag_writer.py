"""A flagging process for test_durability: it flags records as fast as it can from several
threads and prints one line per flag *after* the store acknowledged it (the call returned).
The test kills it with SIGKILL and checks that every printed flag is in the database.

Usage: python -m tests.review.flag_writer STATE_DIR WORKER THREADS
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path


def main(state_dir: str, worker: int, threads: int) -> None:
    from app.config import Settings
    from app.review.flags import RecordRef
    from app.review.store import ReviewStore

    store = ReviewStore.open(Settings(state_dir=Path(state_dir)))
    user = store.users.get(f"writer{worker}")
    out = threading.Lock()

    def run(thread: int) -> None:
        i = 0
        while True:
            base = f"w{worker}-t{thread}-{i}"
            if i % 4 == 3:
                # A record and its near-duplicates, suspected CSAM, in one transaction.
                records = [
                    RecordRef(f"{base}-{d}", f"https://example.org/{base}-{d}.jpg")
                    for d in range(3)
                ]
                batch = store.flags.flag(user, "tiny", records, "suspected_csam")
            else:
                record = RecordRef(base, f"https://example.org/{base}.jpg")
                batch = store.flags.flag(user, "tiny", record, "other", "durability")
            lines = "".join(f"{flag.id} {flag.sample_id} {flag.category}\n" for flag in batch.flags)
            with out:
                sys.stdout.write(lines)
                sys.stdout.flush()
            i += 1

    workers = [threading.Thread(target=run, args=(t,), daemon=True) for t in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
