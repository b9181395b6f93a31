"""Account takeover, as public accounts describe it (credentials phished or bought,
so often no failed tries): a login from a device never seen and an IP abroad, a
contact-detail change, then a payout the victim never made before.

Per case: failed tries before the login or none; a victim with a long login history
or a quiet one; e-mail, phone or both changed, minutes to hours after the login;
payout(s) to an IBAN of another country's bank or to a payee account here.
size = victims per attacker (device and IP re-used across them).
"""

from __future__ import annotations

import random

from fraudgraph.simulator import activities as act
from fraudgraph.simulator.families.amlsim.common import Amounts
from fraudgraph.simulator.geo import COUNTRIES
from fraudgraph.simulator.typologies.base import ATTACKER_PREFIXES, Case, Reveal, recruit
from fraudgraph.simulator.world import DAY, HOUR, MINUTE, Person, World

SPAN = 3 * DAY
QUIET_LOGIN_RATE = 0.6  # logins/day under which a customer counts as rarely logging in


def _foreign_ip(w: World, rng: random.Random, home: str) -> str:
    """A residential address in another of the bank's countries, or a hosting/VPN range."""
    if rng.random() < 0.6:
        country = COUNTRIES[rng.choice(sorted(c for c in COUNTRIES if c != home))]
        return w.unique_ip(rng.choice(country.isp_prefixes))
    return w.unique_ip(rng.choice(ATTACKER_PREFIXES))


def inject(
    w: World, rng: random.Random, case: Case, *, start: float, end: float, size: int
) -> None:
    quiet = rng.random() < 0.35
    victims = recruit(
        w, rng, size, where=(lambda p: p.login_rate < QUIET_LOGIN_RATE) if quiet else None
    )
    if not victims:
        return
    device = w.new_device(rng, start, rng.choice(("windows", "android", "ios", "macos")))
    ip = _foreign_ip(w, rng, victims[0].country.code)
    failed_tries = rng.random() < 0.4
    slot = (end - start) / len(victims)
    for n, victim in enumerate(victims):
        at = start + n * slot + rng.uniform(0.05, 0.4) * slot
        if failed_tries:
            for _ in range(rng.randint(1, 4)):
                failed = w.login(victim, at - rng.uniform(20, 600), device, ip, success=False)
                case.touch("ip", ip, "attacker_ip", failed.occurred_at.timestamp())
        w.login(victim, at, device, ip)
        case.person(victim, "victim", at)
        case.touch("device", device, "attacker_device", at)
        case.touch("ip", ip, "attacker_ip", at)
        changed = at + rng.uniform(2 * MINUTE, 4 * HOUR)
        which = rng.choice(("email", "phone", "both"))
        act.update_contact(
            w, victim, changed, email=which != "phone", phone=which != "email", own_name=False
        )
        case.touch("customer", victim.customer_id, "victim", changed)
        _payouts(
            w, rng, case, victim, after=changed, until=min(end, changed + DAY), device=device, ip=ip
        )


def _payouts(
    w: World,
    rng: random.Random,
    case: Case,
    victim: Person,
    *,
    after: float,
    until: float,
    device: int,
    ip: str,
) -> None:
    amounts = Amounts(rng, victim.currency, 250, 4_000)
    payee: Person | None = None
    if rng.random() < 0.4:
        found = recruit(w, rng, 1, where=lambda p: p.currency == victim.currency)
        payee = found[0] if found else None
    abroad = sorted(c for c in COUNTRIES if c != victim.country.code)
    at = after
    last = None
    for _ in range(rng.choice((1, 1, 2, 3))):
        at = min(at + rng.uniform(3 * MINUTE, 0.3 * max(until - at, HOUR)), until - 1)
        if payee is not None:
            case.person(payee, "payee", at)
            row = act.transfer(
                w,
                rng,
                victim,
                at,
                amounts.draw(rng),
                to_account=payee.checking,
                device=device,
                ip=ip,
            )
        else:
            row = act.transfer(
                w,
                rng,
                victim,
                at,
                amounts.draw(rng),
                to_iban=w.external_iban(rng.choice(abroad)),
                device=device,
                ip=ip,
            )
        case.txn(row, "payout")
        last = row
    if last is not None:
        case.reveals.append(Reveal("confirmed_fraud", txn_id=last.txn_id))
