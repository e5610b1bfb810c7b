"""Answer checks of the templates that can compute their answer (mostly arithmetic).

A check maps a template instance's values (slot keys, and ``"<key>"`` for the index of each
contrast option chosen, as a string) to a key that equals another instance's key exactly
when both prompts have the same answer; ``None`` means the instance has no sensible answer.
A near-miss of such a template is kept only when its key differs. The template data names
its check (``"check": "addition"``), which :data:`CHECKS` resolves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction

from semcached.quality.synthetic.templates import Check

__all__ = ["CHECKS"]


def _i(v: Mapping[str, str], key: str) -> int:
    return int(v[key].replace(",", "").replace("$", ""))


def _fl(v: Mapping[str, str], key: str) -> float:
    return float(v[key].replace(",", "").replace("$", ""))


def _secs(clock: str) -> int:
    minutes, _, seconds = clock.partition(":")
    return int(minutes) * 60 + int(seconds)


def _is_prime(n: int) -> bool:
    return n > 1 and all(n % k for k in range(2, int(n**0.5) + 1))


def _first_sum(which: int, n: int) -> int:
    if which == 0:
        return n * (n + 1)
    if which == 1:
        return n * n
    primes = [k for k in range(2, 100) if _is_prime(k)]
    return sum(primes[:n])


def _digit_op(number: str, add: bool) -> int:
    digits = [int(c) for c in number if c.isdigit()]
    return sum(digits) if add else math.prod(digits)


_NEXT_IN_SEQ = {
    "2, 4, 8, 16": 32,
    "1, 4, 9, 16": 25,
    "3, 7, 11, 15": 19,
    "1, 1, 2, 3, 5": 8,
    "2, 6, 18, 54": 162,
    "1, 3, 6, 10": 15,
    "5, 10, 20, 40": 80,
    "100, 90, 81, 73": 66,
}
_OCEANS = ("Pacific", "Arctic", "Pacific", "Arctic")
_PLANET_EXTREMES = ("Jupiter", "Mercury", "Venus", "Mercury", "Neptune")


# ------------------------------------------------------------------------------------ advice
def _sleep_band(v: Mapping[str, str]) -> str:
    age = _i(v, "age")
    return next(
        b
        for limit, b in (
            (5, "toddler"),
            (12, "child"),
            (17, "teen"),
            (64, "adult"),
            (200, "senior"),
        )
        if age <= limit
    )


# ---------------------------------------------------------------------------- coding, facts
def _range_values(v: Mapping[str, str]) -> object:
    return tuple(range(_i(v, "small"), _i(v, "num"), _i(v, "exp")))


def _ocean_extreme(v: Mapping[str, str]) -> object:
    return _OCEANS[int(v["<qual>"])]


def _planet_extreme(v: Mapping[str, str]) -> object:
    return _PLANET_EXTREMES[int(v["<qual>"])]


# -------------------------------------------------------------------------------------- math
def _addition(v: Mapping[str, str]) -> object:
    return _i(v, "num") + _i(v, "num2")


def _ordered_subtraction(v: Mapping[str, str]) -> object:
    return (_i(v, "num") - _i(v, "num2")) * (1 if v["<order>"] == "0" else -1)


def _multiplication(v: Mapping[str, str]) -> object:
    return _i(v, "num") * _i(v, "n")


def _division(v: Mapping[str, str]) -> object:
    return round(_i(v, "big") / _i(v, "d"), 6)


def _percent_of(v: Mapping[str, str]) -> object:
    return _i(v, "pct") * _i(v, "big") / 100


def _square_root(v: Mapping[str, str]) -> object:
    return _i(v, "sq") ** 0.5


def _factorial(v: Mapping[str, str]) -> object:
    return _i(v, "fact")


def _ordered_power(v: Mapping[str, str]) -> object:
    return _i(v, "small") ** _i(v, "exp") if v["<order>"] == "0" else _i(v, "exp") ** _i(v, "small")


def _rounding(v: Mapping[str, str]) -> object:
    return round(_i(v, "big"), -1 - int(v["<con>"]))


def _statistic(v: Mapping[str, str]) -> object:
    xs = sorted(float(x) for x in v["datalist"].split(", "))
    which = v["<qual>"]
    if which == "0":
        return round(sum(xs) / len(xs), 4)
    if which == "1":
        mid = len(xs) // 2
        return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2
    counts = {x: xs.count(x) for x in xs}
    top = max(counts.values())
    modes = sorted(x for x, c in counts.items() if c == top)
    return tuple(modes) if top > 1 else None


def _temperature_conversion(v: Mapping[str, str]) -> object:
    return (v["<roles>"], _i(v, "num"))


def _compound_interest(v: Mapping[str, str]) -> object:
    return round(
        _i(v, "money")
        * (1 + _i(v, "rate") / 100 / (1 if v["<unit>"] == "0" else 12))
        ** (_i(v, "n") * (1 if v["<unit>"] == "0" else 12)),
        2,
    )


def _percentage_change(v: Mapping[str, str]) -> object:
    return (
        round((_i(v, "num2") - _i(v, "num")) / _i(v, "num"), 6)
        if v["<order>"] == "0"
        else round((_i(v, "num") - _i(v, "num2")) / _i(v, "num2"), 6)
    )


def _linear_equation(v: Mapping[str, str]) -> object:
    return (_i(v, "num2") - _i(v, "num")) / _i(v, "n")


def _circle_area(v: Mapping[str, str]) -> object:
    return (_i(v, "n") / (1 if v["<qual>"] == "0" else 2), v["<unit>"])


def _rectangle_area(v: Mapping[str, str]) -> object:
    return _i(v, "n") * _i(v, "num")


def _square_perimeter(v: Mapping[str, str]) -> object:
    return 4 * _i(v, "num")


def _cube_volume(v: Mapping[str, str]) -> object:
    return _i(v, "n") ** 3


def _sum_of_first(v: Mapping[str, str]) -> object:
    return _first_sum(int(v["<qual>"]), _i(v, "n"))


def _fraction_sum(v: Mapping[str, str]) -> object:
    return Fraction(_i(v, "n"), _i(v, "d")) + Fraction(_i(v, "small"), _i(v, "d2"))


def _gcd_or_lcm(v: Mapping[str, str]) -> object:
    return (math.gcd if v["<qual>"] == "0" else math.lcm)(_i(v, "num"), _i(v, "num2"))


def _primality(v: Mapping[str, str]) -> object:
    return _is_prime(_i(v, "num"))


def _next_in_sequence(v: Mapping[str, str]) -> object:
    return _NEXT_IN_SEQ[v["seq"]]


def _hours_in_minutes_or_seconds(v: Mapping[str, str]) -> object:
    return _i(v, "n") * (60 if v["<unit>"] == "0" else 3600)


def _train_distance(v: Mapping[str, str]) -> object:
    return _i(v, "speed") * _i(v, "n")


def _recipe_scaling(v: Mapping[str, str]) -> object:
    return round(_i(v, "n") * _i(v, "num") / _i(v, "small"), 6)


def _coin_flip_probability(v: Mapping[str, str]) -> object:
    return Fraction(math.comb(_i(v, "num"), _i(v, "small")), 2 ** _i(v, "num"))


def _average_speed(v: Mapping[str, str]) -> object:
    return round(_i(v, "dist") / _i(v, "n"), 6)


def _square(v: Mapping[str, str]) -> object:
    return _i(v, "num") ** 2


def _seconds_in_days_or_weeks(v: Mapping[str, str]) -> object:
    return _i(v, "n") * (86400 if v["<date>"] == "0" else 604800)


def _hypotenuse(v: Mapping[str, str]) -> object:
    return round((_i(v, "n") ** 2 + _i(v, "num") ** 2) ** 0.5, 6)


def _discounted_price(v: Mapping[str, str]) -> object:
    return _i(v, "price") * (100 - _i(v, "pct"))


def _digit_sum_or_product(v: Mapping[str, str]) -> object:
    return _digit_op(v["big"], v["<qual>"] == "0")


def _original_price(v: Mapping[str, str]) -> object:
    return round(_i(v, "price") / (1 - _i(v, "pct") / 100), 4) if _i(v, "pct") < 100 else None


def _big_minus_num(v: Mapping[str, str]) -> object:
    return _i(v, "big") - _i(v, "num")


def _value_of(key: str) -> Check:
    """The answer depends on the slot ``key`` alone (``n!`` arrangements of ``n`` books)."""

    def check(v: Mapping[str, str]) -> object:
        return _i(v, key)

    return check


# -------------------------------------------------------------------------------- extraction
_TIMES = ("", "2", "3", "4")
_THREE = ("", "2", "3")


def _fastest_runner(v: Mapping[str, str]) -> object:
    return min((_secs(v[f"time{i}"]), v[f"first{i}"]) for i in _TIMES)[1]


def _slowest_runner(v: Mapping[str, str]) -> object:
    return max((_secs(v[f"time{i}"]), v[f"first{i}"]) for i in _TIMES)[1]


def _total_race_time(v: Mapping[str, str]) -> object:
    return sum(_secs(v[f"time{i}"]) for i in _TIMES)


def _busiest_server(v: Mapping[str, str]) -> object:
    return max((_i(v, f"cpu{i}"), v[f"srv{i}"]) for i in _THREE)[1]


def _idlest_server(v: Mapping[str, str]) -> object:
    return min((_i(v, f"cpu{i}"), v[f"srv{i}"]) for i in _THREE)[1]


def _total_cpu(v: Mapping[str, str]) -> object:
    return sum(_i(v, f"cpu{i}") for i in _THREE)


def _package_volume(v: Mapping[str, str]) -> object:
    return _i(v, "dim") * _i(v, "dim2") * _i(v, "dim3")


def _order_total(v: Mapping[str, str]) -> object:
    return round(_i(v, "qty") * _fl(v, "unit_price") + _fl(v, "ship"), 2)


def _latest_login(v: Mapping[str, str]) -> object:
    return max((v[f"isodate{i}"], v[f"user{i}"]) for i in _THREE)[1]


def _earliest_login(v: Mapping[str, str]) -> object:
    return min((v[f"isodate{i}"], v[f"user{i}"]) for i in _THREE)[1]


def _total_expenses(v: Mapping[str, str]) -> object:
    return round(_fl(v, "cost") + _fl(v, "cost2"), 2)


def _largest_expense(v: Mapping[str, str]) -> object:
    return max(_fl(v, "cost"), _fl(v, "cost2"))


def _top_student(v: Mapping[str, str]) -> object:
    return max((_i(v, f"grade{i}"), v[f"first{i}"]) for i in _THREE)[1]


def _average_grade(v: Mapping[str, str]) -> object:
    return round(sum(_i(v, f"grade{i}") for i in _THREE) / 3, 4)


def _failing_students(v: Mapping[str, str]) -> object:
    return tuple(sorted(v[f"first{i}"] for i in _THREE if _i(v, f"grade{i}") < 60))


def _warmest_day(v: Mapping[str, str]) -> object:
    return max((_i(v, f"temp{i}"), v[f"weekday{i}"]) for i in _THREE)[1]


def _average_temperature(v: Mapping[str, str]) -> object:
    return round(sum(_i(v, f"temp{i}") for i in _THREE) / 3, 4)


def _cheapest_item(v: Mapping[str, str]) -> object:
    return min((_fl(v, f"cost{i}"), v[f"product{i}"]) for i in _THREE)[1]


def _total_price(v: Mapping[str, str]) -> object:
    return round(sum(_fl(v, f"cost{i}") for i in _THREE), 2)


def _priciest_item(v: Mapping[str, str]) -> object:
    return max((_fl(v, f"cost{i}"), v[f"product{i}"]) for i in _THREE)[1]


def _total_rent(v: Mapping[str, str]) -> object:
    return _i(v, "n") * _i(v, "rent")


CHECKS: dict[str, Check] = {
    "sleep_band": _sleep_band,
    "range_values": _range_values,
    "ocean_extreme": _ocean_extreme,
    "planet_extreme": _planet_extreme,
    "addition": _addition,
    "ordered_subtraction": _ordered_subtraction,
    "multiplication": _multiplication,
    "division": _division,
    "percent_of": _percent_of,
    "square_root": _square_root,
    "factorial": _factorial,
    "ordered_power": _ordered_power,
    "rounding": _rounding,
    "statistic": _statistic,
    "temperature_conversion": _temperature_conversion,
    "compound_interest": _compound_interest,
    "percentage_change": _percentage_change,
    "linear_equation": _linear_equation,
    "circle_area": _circle_area,
    "rectangle_area": _rectangle_area,
    "square_perimeter": _square_perimeter,
    "cube_volume": _cube_volume,
    "sum_of_first": _sum_of_first,
    "book_arrangements": _value_of("n"),
    "fraction_sum": _fraction_sum,
    "gcd_or_lcm": _gcd_or_lcm,
    "primality": _primality,
    "next_in_sequence": _next_in_sequence,
    "hours_in_minutes_or_seconds": _hours_in_minutes_or_seconds,
    "train_distance": _train_distance,
    "recipe_scaling": _recipe_scaling,
    "derivative": _value_of("exp"),
    "coin_flip_probability": _coin_flip_probability,
    "average_speed": _average_speed,
    "square": _square,
    "seconds_in_days_or_weeks": _seconds_in_days_or_weeks,
    "hypotenuse": _hypotenuse,
    "discounted_price": _discounted_price,
    "polygon_diagonals": _value_of("num"),
    "digit_sum_or_product": _digit_sum_or_product,
    "password_count": _value_of("n"),
    "original_price": _original_price,
    "big_minus_num": _big_minus_num,
    "fastest_runner": _fastest_runner,
    "slowest_runner": _slowest_runner,
    "total_race_time": _total_race_time,
    "busiest_server": _busiest_server,
    "idlest_server": _idlest_server,
    "total_cpu": _total_cpu,
    "package_volume": _package_volume,
    "order_total": _order_total,
    "latest_login": _latest_login,
    "earliest_login": _earliest_login,
    "total_expenses": _total_expenses,
    "largest_expense": _largest_expense,
    "top_student": _top_student,
    "average_grade": _average_grade,
    "failing_students": _failing_students,
    "warmest_day": _warmest_day,
    "average_temperature": _average_temperature,
    "cheapest_item": _cheapest_item,
    "total_price": _total_price,
    "priciest_item": _priciest_item,
    "total_rent": _total_rent,
}
"""Every check, by the name the template data gives it."""
