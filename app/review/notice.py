"""What a reviewer is told after flagging a record as suspected CSAM: one text for the card, the
page after a record-page flag, and the JSON answer, so they cannot say different things.

Short and calm on purpose: the reviewer may just have seen something distressing. It says that
the record is already hidden for everyone, what happens next, and where to report. The hotline
addresses are the one kind of outside link Loupe shows: plain links a person may follow, never
fetched by the server (as a record's source URL is shown as text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Hotline:
    where: str
    name: str
    url: str


# Where to report suspected child sexual abuse material. NCMEC's CyberTipline is where US
# providers must report; the IWF is the UK's hotline; INHOPE lists the member hotlines of
# some 50 countries and the form that routes a report to the right one.
HOTLINES: tuple[Hotline, ...] = (
    Hotline("In the US", "NCMEC CyberTipline", "https://report.cybertip.org/"),
    Hotline("In the UK", "Internet Watch Foundation (IWF)", "https://report.iwf.org.uk/"),
    Hotline(
        "Elsewhere", "your country's INHOPE hotline", "https://www.inhope.org/EN#hotlineReferral"
    ),
)

HIDDEN = (
    "The record is hidden for everyone, reviewers and admins included, from now on. Its cached "
    "pictures have been deleted."
)
NEXT_STEPS: tuple[str, ...] = (
    "A second reviewer confirms or dismisses the flag in the review queue.",
    "Confirming it also hides records that look like it (a quarantine), until an admin "
    "releases one.",
    "An admin can read the stored URL a report needs, and export the list of confirmed records.",
)
REPORT = (
    "A report needs where the picture is, not the picture: please don't download, copy or "
    "screenshot it, or look for it again."
)


def csam_notice(flag_ids: list[int]) -> dict[str, Any]:
    """The notice as JSON (the API's answer to a suspected-CSAM flag)."""
    return {
        "hidden_for_everyone": True,
        "flags": list(flag_ids),
        "message": HIDDEN,
        "next": list(NEXT_STEPS),
        "report": {
            "advice": REPORT,
            "hotlines": [{"where": h.where, "name": h.name, "url": h.url} for h in HOTLINES],
        },
    }
