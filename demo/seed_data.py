"""Seattle for the demo: depots, five neighbourhoods, their streets and address grids.

Street names, directional conventions and ZIP codes are real. Seattle numbers houses
by block: on an avenue (running north-south) the number says which cross street the
house is near (4512 Fremont Ave N is just north of N 45th St); on a street (running
east-west) it says which avenue (2315 NW Market St is between 23rd and 24th Ave NW).
Each neighbourhood models that with a linear :class:`Grid` calibrated on two known
points per axis, so a generated house number and its coordinates agree to within a
block or two. Diagonal streets (Rainier Ave S, Beacon Ave S...) are explicit segments.

Everything here is plain data and pure functions: no database, no randomness.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

METRO_TIMEZONE = "America/Los_Angeles"
# Roughly the City of Seattle, for tests that check the demo stays in the metro.
METRO_BOUNDS = {"lat": (47.49, 47.74), "lon": (-122.44, -122.23)}


@dataclass(frozen=True)
class DepotSite:
    name: str
    address: str
    lat: float
    lon: float


# Two depots, so the northern routes do not start with a drive through downtown.
NORTH_DEPOT = DepotSite("Interbay Depot", "2001 15th Ave W, Seattle, WA 98119", 47.6372, -122.3762)
SOUTH_DEPOT = DepotSite(
    "SODO Depot", "2750 Occidental Ave S, Seattle, WA 98134", 47.5785, -122.3335
)
DEPOTS = (NORTH_DEPOT, SOUTH_DEPOT)


@dataclass(frozen=True)
class Grid:
    """House numbers to coordinates, linearly, from two reference points per axis.

    ``north_south`` calibrates numbers along avenues against latitude, ``east_west``
    numbers along streets against longitude: ``((number, degrees), (number, degrees))``.
    """

    north_south: tuple[tuple[float, float], tuple[float, float]]
    east_west: tuple[tuple[float, float], tuple[float, float]]

    def lat(self, number: float) -> float:
        """Latitude of house ``number`` on an avenue (and of the cross street there)."""
        return _interpolate(self.north_south, number)

    def lon(self, number: float) -> float:
        """Longitude of house ``number`` on a street (and of the avenue there)."""
        return _interpolate(self.east_west, number)


def _interpolate(points: tuple[tuple[float, float], tuple[float, float]], x: float) -> float:
    (x0, y0), (x1, y1) = points
    return y0 + (x - x0) * (y1 - y0) / (x1 - x0)


@dataclass(frozen=True)
class Street:
    """A stretch of one street: house ``numbers[0]`` at ``start``, ``numbers[1]`` at ``end``."""

    name: str
    start: tuple[float, float]
    end: tuple[float, float]
    numbers: tuple[int, int]

    def locate(self, number: int) -> tuple[float, float]:
        """(lat, lon) on the centre line where house ``number`` stands."""
        low, high = self.numbers
        t = (number - low) / (high - low)
        return (
            self.start[0] + t * (self.end[0] - self.start[0]),
            self.start[1] + t * (self.end[1] - self.start[1]),
        )


def east_west(grid: Grid, name: str, block: int, numbers: tuple[int, int]) -> Street:
    """A street on the ``block`` line of the grid (N 45th St: block 4500)."""
    lat = grid.lat(block)
    return Street(name, (lat, grid.lon(numbers[0])), (lat, grid.lon(numbers[1])), numbers)


def north_south(grid: Grid, name: str, block: int, numbers: tuple[int, int]) -> Street:
    """An avenue on the ``block`` line of the grid (24th Ave NW: block 2400)."""
    lon = grid.lon(block)
    return Street(name, (grid.lat(numbers[0]), lon), (grid.lat(numbers[1]), lon), numbers)


@dataclass(frozen=True)
class Neighbourhood:
    name: str
    depot: DepotSite
    streets: tuple[Street, ...]
    # ZIP code of a point: the neighbourhoods straddle ZIP boundaries.
    zip_code: Callable[[float, float], str]
    # Share of addresses with an apartment or unit number (Capitol Hill is mostly flats).
    unit_share: float

    def bounds(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """((lat_min, lat_max), (lon_min, lon_max)) of every street's centre line."""
        lats = [p[0] for s in self.streets for p in (s.start, s.end)]
        lons = [p[1] for s in self.streets for p in (s.start, s.end)]
        return (min(lats), max(lats)), (min(lons), max(lons))


# Ballard (NW quadrant): street numbers grow westwards from the avenue count,
# calibrated on 15th Ave NW and the Locks (3015 NW 54th St); avenue numbers on
# NW Market St (5400) and NW 85th St.
_BALLARD = Grid(((5400, 47.6687), (8500, 47.6905)), ((1500, -122.3761), (3015, -122.3972)))
BALLARD = Neighbourhood(
    "Ballard",
    NORTH_DEPOT,
    (
        *(
            east_west(_BALLARD, name, block, (1500, 3199))
            for name, block in (
                ("NW Market St", 5400),
                ("NW 56th St", 5600),
                ("NW 58th St", 5800),
                ("NW 60th St", 6000),
                ("NW 62nd St", 6200),
                ("NW 65th St", 6500),
                ("NW 67th St", 6700),
                ("NW 70th St", 7000),
                ("NW 75th St", 7500),
                ("NW 77th St", 7700),
                ("NW 80th St", 8000),
            )
        ),
        *(
            north_south(_BALLARD, name, block, (5400, 8099))
            for name, block in (
                ("15th Ave NW", 1500),
                ("17th Ave NW", 1700),
                ("20th Ave NW", 2000),
                ("22nd Ave NW", 2200),
                ("24th Ave NW", 2400),
                ("26th Ave NW", 2600),
                ("28th Ave NW", 2800),
                ("30th Ave NW", 3000),
                ("32nd Ave NW", 3200),
            )
        ),
    ),
    lambda lat, _lon: "98107" if lat < _BALLARD.lat(6500) else "98117",
    0.2,
)

# Fremont and Wallingford (N quadrant): street numbers grow eastwards from Queen Anne
# Ave N, calibrated on 400 N 35th St and 1815 N 45th St.
_FREMONT = Grid(((3600, 47.6515), (5000, 47.6650)), ((400, -122.3531), (1815, -122.3362)))
FREMONT_WALLINGFORD = Neighbourhood(
    "Fremont and Wallingford",
    NORTH_DEPOT,
    (
        *(
            east_west(_FREMONT, name, block, (400, 2299))
            for name, block in (
                ("N 36th St", 3600),
                ("N 39th St", 3900),
                ("N 40th St", 4000),
                ("N 42nd St", 4200),
                ("N 43rd St", 4300),
                ("N 45th St", 4500),
                ("N 46th St", 4600),
                ("N 48th St", 4800),
                ("N 50th St", 5000),
            )
        ),
        *(
            north_south(_FREMONT, name, block, (3600, 5099))
            for name, block in (
                ("Phinney Ave N", 400),
                ("Fremont Ave N", 650),
                ("Woodland Park Ave N", 1100),
                ("Stone Way N", 1300),
                ("Interlake Ave N", 1400),
                ("Densmore Ave N", 1600),
                ("Wallingford Ave N", 1800),
                ("Burke Ave N", 1900),
                ("Meridian Ave N", 2100),
            )
        ),
    ),
    lambda _lat, _lon: "98103",
    0.25,
)

# Capitol Hill (E quadrant): avenue numbers count north from E Denny Way, street
# numbers east by avenue, calibrated on 10th Ave and 23rd Ave. Pike/Pine lie south of
# Denny, where only the streets carry a directional, so they get east-west stops only.
_CAPITOL = Grid(((100, 47.6187), (1200, 47.6305)), ((1000, -122.3195), (2300, -122.3025)))
CAPITOL_HILL = Neighbourhood(
    "Capitol Hill",
    SOUTH_DEPOT,
    (
        Street(
            "E Pike St", (47.6142, _CAPITOL.lon(800)), (47.6142, _CAPITOL.lon(1699)), (800, 1699)
        ),
        Street(
            "E Pine St", (47.6153, _CAPITOL.lon(800)), (47.6153, _CAPITOL.lon(1899)), (800, 1899)
        ),
        Street(
            "E Union St", (47.6130, _CAPITOL.lon(1000)), (47.6130, _CAPITOL.lon(2299)), (1000, 2299)
        ),
        *(
            east_west(_CAPITOL, name, block, (800, 2299))
            for name, block in (
                ("E Denny Way", 100),
                ("E John St", 200),
                ("E Thomas St", 300),
                ("E Harrison St", 400),
                ("E Republican St", 500),
                ("E Mercer St", 600),
                ("E Roy St", 700),
                ("E Aloha St", 900),
                ("E Prospect St", 1200),
            )
        ),
        *(
            north_south(_CAPITOL, name, block, (100, 1399))
            for name, block in (
                ("Harvard Ave E", 800),
                ("Broadway E", 900),
                ("10th Ave E", 1000),
                ("12th Ave E", 1200),
                ("14th Ave E", 1400),
                ("15th Ave E", 1500),
                ("16th Ave E", 1600),
                ("19th Ave E", 1900),
            )
        ),
    ),
    lambda lat, lon: (
        "98122" if lat < _CAPITOL.lat(100) else ("98102" if lon < _CAPITOL.lon(1450) else "98112")
    ),
    0.45,
)

# Queen Anne (W quadrant west of Queen Anne Ave N, N quadrant east of it): street
# numbers grow westwards from Queen Anne Ave N, avenue numbers north from Denny Way,
# calibrated on W Mercer St (600) and W McGraw St (2200).
_QUEEN_ANNE = Grid(((600, 47.6247), (2200, 47.6393)), ((0, -122.3569), (1000, -122.3700)))
QUEEN_ANNE = Neighbourhood(
    "Queen Anne",
    NORTH_DEPOT,
    (
        *(
            east_west(_QUEEN_ANNE, name, block, (100, 999))
            for name, block in (
                ("W Galer St", 1400),
                ("W Blaine St", 1500),
                ("W Howe St", 1700),
                ("W Crockett St", 1900),
                ("W Boston St", 2000),
                ("W McGraw St", 2200),
                ("W Raye St", 2400),
            )
        ),
        *(
            north_south(_QUEEN_ANNE, name, block, (1200, 2599))
            for name, block in (
                ("Queen Anne Ave N", 0),
                ("1st Ave W", 100),
                ("3rd Ave W", 300),
                ("4th Ave W", 400),
                ("6th Ave W", 600),
                ("7th Ave W", 700),
                ("8th Ave W", 800),
                ("10th Ave W", 1000),
            )
        ),
        # East of Queen Anne Ave N the avenues carry N and numbers grow eastwards
        # again, so the grid's westward block numbers do not apply: explicit lines.
        *(
            Street(name, (_QUEEN_ANNE.lat(1200), lon), (_QUEEN_ANNE.lat(2599), lon), (1200, 2599))
            for name, lon in (
                ("Warren Ave N", -122.3532),
                ("Nob Hill Ave N", -122.3508),
                ("Bigelow Ave N", -122.3490),
                ("5th Ave N", -122.3478),
                ("Taylor Ave N", -122.3466),
            )
        ),
    ),
    lambda _lat, lon: "98109" if lon > -122.3569 else "98119",
    0.3,
)

# Beacon Hill and Columbia City (S quadrant): avenue numbers grow southwards,
# calibrated on Beacon Hill station (2700) and Rainier Ave S at S Edmunds St (4900);
# street numbers grow eastwards by avenue (15th Ave S to 37th Ave S).
_BEACON = Grid(((2700, 47.5793), (4900, 47.5597)), ((1500, -122.3135), (3700, -122.2855)))
BEACON_COLUMBIA = Neighbourhood(
    "Beacon Hill and Columbia City",
    SOUTH_DEPOT,
    (
        Street("Beacon Ave S", (47.5790, -122.3117), (47.5450, -122.2900), (2700, 6499)),
        Street("Rainier Ave S", (47.5650, -122.2930), (47.5520, -122.2770), (4400, 5499)),
        *(
            east_west(_BEACON, name, block, (1500, 3999))
            for name, block in (
                ("S Hanford St", 3000),
                ("S Spokane St", 3200),
                ("S Alaska St", 4700),
                ("S Hudson St", 4800),
                ("S Edmunds St", 4900),
                ("S Ferdinand St", 5000),
                ("S Orcas St", 5400),
                ("S Graham St", 6400),
            )
        ),
        *(
            north_south(_BEACON, name, block, (3000, 6399))
            for name, block in (
                ("15th Ave S", 1500),
                ("17th Ave S", 1700),
                ("24th Ave S", 2400),
                ("35th Ave S", 3500),
                ("36th Ave S", 3600),
                ("39th Ave S", 3900),
            )
        ),
    ),
    lambda lat, lon: "98118" if lon > -122.295 else ("98144" if lat > 47.565 else "98108"),
    0.1,
)

# Driver n covers NEIGHBOURHOODS[n - 1].
NEIGHBOURHOODS = (BALLARD, FREMONT_WALLINGFORD, CAPITOL_HILL, QUEEN_ANNE, BEACON_COLUMBIA)

FIRST_NAMES = (
    "Aisha", "Ben", "Carmen", "Dana", "Elijah", "Fatima", "Gabriel", "Hana", "Isaac",
    "Jasmine", "Kenji", "Lena", "Mateo", "Nadia", "Owen", "Priya", "Quinn", "Rosa",
    "Samuel", "Tuyet", "Uma", "Victor", "Wen", "Ximena", "Yusuf", "Zoe", "Marcus",
    "Grace", "Diego", "Mei", "Tomas", "Leila", "Andre", "Ingrid", "Kofi", "Sofia",
)  # fmt: skip
LAST_NAMES = (
    "Nguyen", "Johnson", "Garcia", "Kim", "Okafor", "Larsen", "Patel", "Martinez", "Chen",
    "Williams", "Haddad", "Olsen", "Tanaka", "Brown", "Ramirez", "Singh", "Whitfield",
    "Nakamura", "Alvarez", "Petrov", "Mensah", "Lindqvist", "Yamamoto", "Torres", "Osei",
    "Fischer", "Hughes", "Reyes", "Abebe", "Sato",
)  # fmt: skip
INSTRUCTIONS = (
    "Gate code 4411, buzz twice",
    "Gate code 1972#, then the second door on the left",
    "Leave with the concierge if no answer",
    "Dog in the yard, friendly but loud",
    "Side door by the blue recycling bin",
    "Ring the unit bell, not the office",
    "Do not leave on the porch: packages get stolen",
    "Call on arrival, hard of hearing",
    "Back alley entrance, green garage",
    "Business: receiving dock closes at 4 pm",
    "Parcel locker in the lobby, code on the screen",
    "Steep stairs from the street, use the side path",
)
PARCEL_DESCRIPTIONS = ("Small box", "Medium box", "Large box", "Padded envelope", "Soft pack")
# Alcohol must be handed to an adult: these parcels make the stop's policy an age check.
AGE_RESTRICTED = ("Wine, 2 bottles", "Wine, 6 bottles")
