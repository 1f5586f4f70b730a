"""Seattle data for the demo: neighbourhoods, their streets, ZIP codes and bounds.

Street names, ZIP codes and neighbourhood extents are real; house numbers and
recipients are generated. Coordinates fall inside each neighbourhood's rough bounding
box, close to but not exactly at the named street.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

METRO_TIMEZONE = "America/Los_Angeles"
DEPOT: dict[str, Any] = {
    "name": "SODO Depot",
    "address": "2401 Utah Ave S, Seattle, WA 98134",
    "lat": 47.5826,
    "lon": -122.3357,
}
# Roughly the City of Seattle, for tests that check the demo stays in the metro.
METRO_BOUNDS = {"lat": (47.49, 47.74), "lon": (-122.44, -122.23)}


@dataclass(frozen=True)
class Neighbourhood:
    name: str
    zips: tuple[str, ...]
    lat: tuple[float, float]
    lon: tuple[float, float]
    streets: tuple[str, ...]
    house_numbers: tuple[int, int]


NEIGHBOURHOODS = (
    Neighbourhood(
        "Ballard",
        ("98107", "98117"),
        (47.662, 47.690),
        (-122.400, -122.365),
        (
            "NW Market St",
            "NW 56th St",
            "NW 58th St",
            "NW 62nd St",
            "NW 65th St",
            "NW 70th St",
            "NW 80th St",
            "24th Ave NW",
            "15th Ave NW",
            "20th Ave NW",
            "28th Ave NW",
            "32nd Ave NW",
            "Leary Ave NW",
            "Ballard Ave NW",
            "22nd Ave NW",
        ),
        (1100, 8599),
    ),
    Neighbourhood(
        "Fremont and Wallingford",
        ("98103",),
        (47.648, 47.670),
        (-122.357, -122.325),
        (
            "Fremont Ave N",
            "N 36th St",
            "N 40th St",
            "N 45th St",
            "N 50th St",
            "Stone Way N",
            "Wallingford Ave N",
            "Meridian Ave N",
            "Densmore Ave N",
            "Burke Ave N",
            "Interlake Ave N",
            "Woodland Park Ave N",
            "Phinney Ave N",
        ),
        (300, 5299),
    ),
    Neighbourhood(
        "Capitol Hill",
        ("98102", "98112", "98122"),
        (47.614, 47.638),
        (-122.325, -122.300),
        (
            "E Pike St",
            "E Pine St",
            "Broadway E",
            "E Madison St",
            "15th Ave E",
            "E Olive Way",
            "E John St",
            "E Thomas St",
            "12th Ave E",
            "19th Ave E",
            "Harvard Ave E",
            "Bellevue Ave E",
            "Summit Ave E",
            "E Denny Way",
        ),
        (100, 2399),
    ),
    Neighbourhood(
        "Queen Anne",
        ("98109", "98119"),
        (47.626, 47.645),
        (-122.372, -122.347),
        (
            "Queen Anne Ave N",
            "W McGraw St",
            "Taylor Ave N",
            "W Galer St",
            "5th Ave N",
            "W Raye St",
            "1st Ave W",
            "W Howe St",
            "Warren Ave N",
            "Nob Hill Ave N",
            "10th Ave W",
            "W Crockett St",
            "Bigelow Ave N",
        ),
        (100, 2999),
    ),
    Neighbourhood(
        "Beacon Hill and Columbia City",
        ("98108", "98118", "98144"),
        (47.545, 47.578),
        (-122.315, -122.282),
        (
            "Beacon Ave S",
            "S Columbian Way",
            "Rainier Ave S",
            "S Alaska St",
            "S Edmunds St",
            "15th Ave S",
            "S Hudson St",
            "36th Ave S",
            "S Ferdinand St",
            "S Orcas St",
            "S Graham St",
            "S Holly St",
            "29th Ave S",
        ),
        (2400, 6999),
    ),
)

FIRST_NAMES = (
    "Aisha",
    "Ben",
    "Carmen",
    "Dana",
    "Elijah",
    "Fatima",
    "Gabriel",
    "Hana",
    "Isaac",
    "Jasmine",
    "Kenji",
    "Lena",
    "Mateo",
    "Nadia",
    "Owen",
    "Priya",
    "Quinn",
    "Rosa",
    "Samuel",
    "Tuyet",
    "Uma",
    "Victor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Marcus",
    "Grace",
    "Diego",
    "Mei",
    "Tomas",
    "Leila",
    "Andre",
    "Ingrid",
    "Kofi",
    "Sofia",
)
LAST_NAMES = (
    "Nguyen",
    "Johnson",
    "Garcia",
    "Kim",
    "Okafor",
    "Larsen",
    "Patel",
    "Martinez",
    "Chen",
    "Williams",
    "Haddad",
    "Olsen",
    "Tanaka",
    "Brown",
    "Ramirez",
    "Singh",
    "Whitfield",
    "Nakamura",
    "Alvarez",
    "Petrov",
    "Mensah",
    "Lindqvist",
    "Yamamoto",
    "Torres",
    "Osei",
    "Fischer",
    "Hughes",
    "Reyes",
    "Abebe",
    "Sato",
)
INSTRUCTIONS = (
    "Gate code 4411, buzz twice",
    "Leave with the concierge if no answer",
    "Dog in the yard, friendly but loud",
    "Side door by the blue recycling bin",
    "Ring unit bell, not the office",
    "Do not leave on porch: packages get stolen",
    "Call on arrival, hard of hearing",
    "Back alley entrance, green garage",
    "Business: receiving dock closes at 4 pm",
    "Parcel locker in lobby, code on the screen",
)
PARCEL_DESCRIPTIONS = ("Small box", "Medium box", "Large box", "Padded envelope", "Soft pack", "")
