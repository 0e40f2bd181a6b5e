#!/usr/bin/python3
"""The reports' figures computed again, independently of the daemon's SQL.

  report_oracle.py gen HISTORY.json >HISTORY.sql
      a seeded history (tickets across weekends, holidays and DST changes,
      pauses, reopenings, breaches, work, chat and mail, a sote ticket) as
      SQL, and as JSON for the check
  report_oracle.py check HISTORY.json READER KIND [NAME=VALUE ...] <DOC
      compares a report document (report-run's output) with the figures
      this script computes from the history; exit 0 when equal, else 1
      with the differences on stdout as TAP comments

The SLA clock is walked minute by minute over fi-office (Monday to Friday
08:00-16:00 Europe/Helsinki, closed on Finnish public holidays); every
instant of the history falls on a whole minute, so open minutes x 60 are
the timers' open seconds.  Percentiles are by nearest rank: the value at
position ceil(p x N) of the sorted values (1-based), as PostgreSQL's
percentile_disc.
"""
import datetime as dt
import json
import math
import random
import sys
from zoneinfo import ZoneInfo

HEL = ZoneInfo("Europe/Helsinki")
UTC = dt.timezone.utc

# The days fi-office is closed besides weekends: the Finnish public holidays
# and the de facto ones (Midsummer Eve, Christmas Eve) of the years the
# history and its running timers reach, written out by hand so that the
# check shares nothing with daemon/holidays.c.
HOLIDAYS = {
    dt.date(y, m, d)
    for y, days in {
        2024: [(1, 1), (1, 6), (3, 29), (3, 31), (4, 1), (5, 1), (5, 9), (5, 19),
               (6, 21), (6, 22), (11, 2), (12, 6), (12, 24), (12, 25), (12, 26)],
        2025: [(1, 1), (1, 6), (4, 18), (4, 20), (4, 21), (5, 1), (5, 29), (6, 8),
               (6, 20), (6, 21), (11, 1), (12, 6), (12, 24), (12, 25), (12, 26)],
        2026: [(1, 1), (1, 6), (4, 3), (4, 5), (4, 6), (5, 1), (5, 14), (5, 24),
               (6, 19), (6, 20), (10, 31), (12, 6), (12, 24), (12, 25), (12, 26)],
        2027: [(1, 1), (1, 6), (3, 26), (3, 28), (3, 29), (5, 1), (5, 6), (5, 16),
               (6, 25), (6, 26), (11, 6), (12, 6), (12, 24), (12, 25), (12, 26)],
    }.items()
    for m, d in days
}

MEMBERS = ["kannonkoski", "karstula", "kinnula", "kivijarvi", "kyyjarvi", "pihtipudas",
           "saarijarvi", "saarikka", "viitasaari"]
# (login, role, municipalities, organisation, queues, sote); ids 1.. in this order.
AGENTS = [
    ("adm", "admin", None, None, None, False),
    ("adms", "admin", None, None, None, True),
    ("mkin", "manager", ["kinnula"], "kinnula", None, False),
    ("mkar", "manager", ["karstula"], "karstula", None, False),
    ("lead", "lead", None, None, ["network"], False),
    ("a1", "agent", None, None, None, False),
    ("a2", "agent", None, None, None, True),
    ("mall", "manager", None, None, None, True),
]
POLICIES = {  # name: (first response, resolution) in open seconds
    "normal": (2 * 3600, 16 * 3600),
    "chat": (15 * 60, 4 * 3600),
}


def open_minute(ts):
    """Is fi-office open in the minute starting at ts (epoch seconds)?"""
    t = dt.datetime.fromtimestamp(ts, HEL)
    return t.weekday() < 5 and t.date() not in HOLIDAYS and 8 <= t.hour < 16


def running(ts, pauses):
    return not any(a <= ts < (b if b is not None else math.inf) for a, b in pauses)


def open_used(start, stop, pauses):
    """Open seconds from start to stop outside the pauses, minute by minute."""
    return sum(60 for m in range(start, stop, 60) if running(m, pauses) and open_minute(m))


def due_moment(start, target, pauses, limit):
    """When target open seconds are used up (None: not before limit)."""
    used, m = 0, start
    while m < limit:
        if running(m, pauses) and open_minute(m):
            used += 60
            if used >= target:
                return m + 60
        m += 60
    return None


def iso(ts):
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, HEL).isoformat()


def utc(y, mo, d, h, mi):
    return int(dt.datetime(y, mo, d, h, mi, tzinfo=HEL).timestamp())


# -- the history -------------------------------------------------------------------


def lifecycle(rng, t, created):
    """First reply, pauses, reopenings and the final status of one ticket."""
    m = 60
    fr = created + rng.randrange(5, 3 * 24 * 60) * m if rng.random() < 0.85 else None
    cur = fr if fr is not None else created + rng.randrange(30, 600) * m
    stretches, status, events = [], "open", []
    if fr is not None:
        events.append(("reply", fr))
    if rng.random() < 0.35:
        a = cur + rng.randrange(60, 2 * 24 * 60) * m
        b = a + rng.randrange(60, 3 * 24 * 60) * m
        stretches.append(["pending", a, b])
        events += [("status:open:pending", a), ("status:pending:open", b)]
        cur = b
    if rng.random() < 0.15:
        a = cur + rng.randrange(60, 600) * m
        stretches.append(["pending", a, None])
        events.append(("status:open:pending", a))
        return fr, stretches, "pending", events
    if rng.random() < 0.8:
        a = cur + rng.randrange(30, 10 * 24 * 60) * m
        if fr is not None and a <= fr:
            a = fr + 60 * m
        stretches.append(["resolved", a, None])
        events.append(("status:open:resolved", a))
        status = "resolved"
        if rng.random() < 0.25:
            b = a + rng.randrange(60, 5 * 24 * 60) * m
            stretches[-1][2] = b
            events.append(("reopened" if rng.random() < 0.5 else "status:resolved:open", b))
            status = "open"
            if rng.random() < 0.6:
                c = b + rng.randrange(60, 4 * 24 * 60) * m
                stretches.append(["resolved", c, None])
                events.append(("status:open:resolved", c))
                status = "resolved"
        if status == "resolved" and rng.random() < 0.3:
            status = "closed"
    return fr, stretches, status, events


def gen_tickets(rng, now):
    tickets = []
    # Hand-picked moments: around the October DST change (27.10.2024), over
    # Independence Day (Friday 6.12.2024), over Christmas, over a weekend,
    # the Helsinki edges of the period, Easter and the March DST change.
    fixed = [utc(2024, 10, 25, 14, 0), utc(2024, 10, 26, 23, 30), utc(2024, 12, 5, 15, 0),
             utc(2024, 12, 23, 13, 45), utc(2024, 11, 29, 15, 30), utc(2024, 10, 1, 0, 10),
             utc(2024, 9, 30, 23, 30), utc(2024, 12, 31, 23, 50), utc(2025, 1, 1, 0, 5),
             utc(2024, 3, 28, 14, 0), utc(2024, 3, 30, 22, 0)]
    lo, hi = utc(2024, 9, 20, 0, 0), utc(2025, 1, 10, 0, 0)
    moments = fixed + [lo + rng.randrange(0, (hi - lo) // 60) * 60 for _ in range(70)]
    places = ["kinnula", "kinnula", "karstula", "viitasaari", "saarijarvi", None]
    for i, created in enumerate(moments):
        chat = rng.random() < 0.25
        t = {
            "number": i + 1, "created": created, "channel": "chat" if chat else "email",
            "municipality": rng.choice(places), "sector": rng.choice([None, "sivistys",
                                                                      "tekninen"]),
            "category": rng.choice([None, "verkko", "tulostus"]),
            "queue": rng.choice(["triage", "network"]), "priority":
            "low" if rng.random() < 0.1 else "normal",
            "assignee": rng.choice([6, 7, None]), "subject": "Asia %d" % (i + 1),
            "follows": None, "merged_into": None,
        }
        t["fr"], t["stretches"], t["status"], t["events"] = lifecycle(rng, t, created)
        tickets.append(t)
    sote = tickets[2]  # over Independence Day
    sote.update(sector="sote", municipality="kinnula", subject="Potilastieto salainen")
    tickets[4]["follows"] = 1
    tickets[20]["follows"] = 3
    # Open now, of every age band, and one merged away (not in the backlog).
    for k, days in enumerate([0.2, 0.5, 2, 5, 10, 45, 400]):
        created = (now - int(days * 86400)) // 60 * 60
        tickets.append({
            "number": len(tickets) + 1, "created": created, "channel": "email",
            "municipality": ["kinnula", "karstula", "viitasaari", None][k % 4],
            "sector": "sote" if k == 3 else None, "category": None, "queue": ["triage", "network"][k % 2],
            "priority": "low", "assignee": [6, None][k % 2],
            "subject": "Auki %d" % k, "follows": None, "merged_into": None, "fr": None,
            "stretches": [["pending", created + 600, None]] if k == 4 else [],
            "status": "pending" if k == 4 else "new", "events": []})
    tickets[-1]["merged_into"] = 1
    tickets[-1]["status"] = "open"
    return tickets


def policy_of(t):
    if t["priority"] != "normal":
        return None
    return "chat" if t["channel"] == "chat" else "normal"


def gen(path):
    rng = random.Random(20241206)
    now = int(dt.datetime.now(UTC).timestamp())
    tickets = gen_tickets(rng, now)
    logins = {i + 1: a[0] for i, a in enumerate(AGENTS)}
    notes, worklog, autos = [], [], []
    for t in tickets:
        who = t["assignee"] or 6
        for _ in range(rng.randrange(0, 3)):
            notes.append((t["number"], who, t["created"] + rng.randrange(1, 20 * 24 * 60) * 60))
        for _ in range(rng.randrange(0, 3)):
            worklog.append((t["number"], who, rng.randrange(5, 240),
                            t["created"] + rng.randrange(1, 20 * 24 * 60) * 60))
    lo, hi = utc(2024, 9, 25, 0, 0), utc(2025, 1, 5, 0, 0)
    autos = [lo + rng.randrange(0, (hi - lo) // 60) * 60 for _ in range(25)]
    hist = {"tickets": tickets, "notes": notes, "worklog": worklog, "autos": autos}
    with open(path, "w") as f:
        json.dump(hist, f)
    out = sys.stdout
    q = lambda v: "NULL" if v is None else "'" + str(v).replace("'", "''") + "'"
    ts = lambda v: "NULL" if v is None else "to_timestamp(%d)" % v
    out.write("INSERT INTO queues (id, name) VALUES ('network', 'Network')"
              " ON CONFLICT DO NOTHING;\n")
    for i, (login, role, mun, org, queues, sote) in enumerate(AGENTS):
        arr = lambda a: "NULL" if a is None else "'{" + ",".join(a) + "}'"
        out.write("INSERT INTO agents (login, name, email, role, municipalities, organisation,"
                  " queues, sote) VALUES (%s, %s, %s, %s, %s, %s, %s, %s);\n" % (
                      q(login), q(login.upper()), q(login + "@seutu-it.fi"), q(role),
                      arr(mun), q(org), arr(queues), "true" if sote else "false"))
    for t in tickets:
        out.write("INSERT INTO tickets (requester_address, subject, municipality, sector,"
                  " category, queue, priority, channel, assignee, created_at) VALUES (%s, %s, %s,"
                  " %s, %s, %s, %s, %s, %s, %s);\n" % (
                      q("r%d@example.fi" % t["number"]), q(t["subject"]), q(t["municipality"]),
                      q(t["sector"]), q(t["category"]), q(t["queue"]),
                                   q(t["priority"]), q(t["channel"]),
                                   t["assignee"] or "NULL", ts(t["created"])))
    for t in tickets:
        resolved = [s for s in t["stretches"] if s[0] == "resolved" and s[2] is None]
        res_at = resolved[0][1] if resolved else None
        out.write("UPDATE tickets SET status = %s, first_response_at = %s, resolved_at = %s,"
                  " closed_at = %s, paused_at = %s, follows = %s, merged_into = %s"
                  " WHERE number = %d;\n" % (
                      q(t["status"]), ts(t["fr"]), ts(res_at),
                      ts(res_at) if t["status"] == "closed" else "NULL",
                      ts(t["stretches"][-1][1]) if t["status"] == "pending" else "NULL",
                      t["follows"] or "NULL", t["merged_into"] or "NULL", t["number"]))
        login = logins.get(t["assignee"] or 6)
        for kind, at in t["events"]:
            if kind == "reopened":
                out.write("INSERT INTO events (ticket, actor, kind, at) VALUES (%d, 'intake',"
                          " 'reopened', %s);\n" % (t["number"], ts(at)))
                continue
            parts = kind.split(":")
            data = "{}" if len(parts) == 1 else json.dumps({"from": parts[1], "to": parts[2]})
            out.write("INSERT INTO events (ticket, actor, kind, data, at) VALUES (%d, %s, %s,"
                      " %s, %s);\n" % (t["number"], q(login), q(parts[0]), q(data), ts(at)))
    out.write("DELETE FROM sla_pauses;\n")
    for t in tickets:
        for kind, a, b in t["stretches"]:
            out.write("INSERT INTO sla_pauses (ticket, started_at, ended_at, status) VALUES"
                      " (%d, %s, %s, %s);\n" % (t["number"], ts(a), ts(b), q(kind)))
    for n, who, at in notes:
        out.write("INSERT INTO events (ticket, actor, kind, at) VALUES (%d, %s, 'note', %s);\n"
                  % (n, q(logins[who]), ts(at)))
    for n, who, minutes, at in worklog:
        out.write("INSERT INTO worklog (ticket, agent, minutes, at) VALUES (%d, %d, %d, %s);\n"
                  % (n, who, minutes, ts(at)))
    for i, at in enumerate(autos):
        out.write("INSERT INTO intake_log (mailbox, external_id, outcome, at) VALUES"
                  " ('support', 'auto-%d', 'auto', %s);\n" % (i, ts(at)))
    out.write("INSERT INTO sla_recompute (ticket) SELECT number FROM tickets;\n")


# -- the figures -----------------------------------------------------------------------


def scope(reader):
    login, role, mun, org, queues, sote = AGENTS[reader - 1]
    if role == "agent":
        return None
    members = None
    if role == "manager" and mun is not None:
        members = sorted(set(mun + ([org] if org else [])))
    return {"role": role, "sote": sote, "members": members,
            "queues": queues if role == "lead" else None}


def visible(sc, t):
    if sc["members"] is not None and t["municipality"] not in sc["members"]:
        return False
    return sc["queues"] is None or t["queue"] in sc["queues"]


def period_bounds(frm, to):
    a = dt.datetime.combine(dt.date.fromisoformat(frm), dt.time(), HEL)
    b = dt.datetime.combine(dt.date.fromisoformat(to) + dt.timedelta(days=1), dt.time(), HEL)
    return int(a.timestamp()), int(b.timestamp())


def timers(t, now):
    """The ticket's timers: kind -> state, open seconds (stopped), due, stop, over."""
    pol = policy_of(t)
    if pol is None:
        return {}
    out = {}
    final = [s for s in t["stretches"] if s[0] == "resolved" and s[2] is None]
    stop = final[0][1] if final else None
    pauses = [(a, b) for k, a, b in t["stretches"] if not (stop is not None and a == stop)]
    for kind, target, stopped, ps in (
            ("first_response", POLICIES[pol][0], t["fr"] or stop, []),
            ("resolution", POLICIES[pol][1], stop, pauses)):
        if stopped is not None:
            used = open_used(t["created"], stopped, ps)
            remaining = target - used
            due = due_moment(t["created"], target, ps, stopped + 400 * 86400)
            # The breach fires when the due moment came before the stop;
            # then the timer is missed even with 0 s left (stopped while
            # closed right after a due moment at closing time).
            breached = due is not None and due < stopped
            state = "met" if remaining >= 0 and not breached else "missed"
            out[kind] = dict(state=state, used=used, due=due, stop=stopped,
                             over=max(-remaining, 0), breached=breached)
        else:
            paused_now = any(b is None for _, b in ps)
            due = due_moment(t["created"], target, ps, now)
            missed = due is not None
            out[kind] = dict(state="missed" if missed else "running", used=None, due=due,
                             stop=None, over=None, breached=missed)
            if paused_now and not missed:
                out[kind]["due"] = None
    return out


def nearest_rank(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[max(math.ceil(p * len(v)), 1) - 1]


def pct(met, missed):
    if met + missed == 0:
        return None
    return round(100.0 * met / (met + missed) + 1e-9, 1)


def group_key(t, by):
    if by == "none":
        return "all"
    if by == "agent":
        return AGENTS[t["assignee"] - 1][0] if t["assignee"] else None
    return t[by]


def rows_for(groups, by, sc, zero):
    keys = set(groups)
    if by == "municipality":
        keys |= {m for m in MEMBERS if sc["members"] is None or m in sc["members"]}
    order = sorted(k for k in keys if k is not None) + ([None] if None in keys else [])
    return [[k] + groups.get(k, zero) for k in order]


def sla_cells(items):
    cells = [len({t["number"] for t, _ in items})]
    for kind in ("first_response", "resolution"):
        tm = [x[kind] for _, x in items if kind in x]
        met = sum(1 for x in tm if x["state"] == "met")
        missed = sum(1 for x in tm if x["state"] == "missed")
        run = sum(1 for x in tm if x["state"] == "running")
        used = [x["used"] for x in tm if x["used"] is not None]
        cells += [met, missed, run, pct(met, missed), nearest_rank(used, 0.5),
                  nearest_rank(used, 0.9)]
    return cells


def expect_sla(h, sc, q, now):
    a, b = period_bounds(q["from"], q["to"])
    items = [(t, timers(t, now)) for t in h["tickets"]
             if a <= t["created"] < b and visible(sc, t) and policy_of(t)]
    groups = {}
    for t, x in items:
        groups.setdefault(group_key(t, q["by"]), []).append((t, x))
    cells = {k: sla_cells(v) for k, v in groups.items()}
    zero = sla_cells([])
    breaches = []
    for t, x in items:
        for kind in ("first_response", "resolution"):
            if kind in x and x[kind]["breached"]:
                y = x[kind]
                subject = None if t["sector"] == "sote" and not sc["sote"] else t["subject"]
                breaches.append((y["due"], t["number"], kind,
                                 [t["number"], kind, policy_of(t), iso(y["due"]),
                                  iso(y["stop"]), y["over"], t["municipality"], subject]))
    breaches.sort(key=lambda r: r[:3])
    return {"sla": (rows_for(cells, q["by"], sc, zero), ["all"] + sla_cells(items)),
            "breaches": ([r[3] for r in breaches], None)}


def reopen_events(t):
    return [at for kind, at in t["events"]
            if kind == "reopened" or kind.startswith("status:resolved:")
            or kind.startswith("status:closed:")]


def bucket(ts, step):
    d = dt.datetime.fromtimestamp(ts, HEL).date()
    if step == "week":
        d -= dt.timedelta(days=d.weekday())
        y, w, _ = d.isocalendar()
        return "%04d-W%02d" % (y, w), d
    return d.strftime("%Y-%m"), d.replace(day=1)


def expect_volume(h, sc, q, now):
    a, b = period_bounds(q["from"], q["to"])
    step, full = q["step"], sc["members"] is None and sc["queues"] is None
    per, grp = {}, {}

    def add(table, key, i):
        table.setdefault(key, [0, 0, 0, 0, 0, 0])[i] += 1

    for t in h["tickets"]:
        if not visible(sc, t):
            continue
        if a <= t["created"] < b:
            for table, key in ((per, bucket(t["created"], step)[0]),
                               (grp, group_key(t, q["by"]))):
                add(table, key, 0)
                add(table, key, 1 if t["channel"] == "email" else 2)
                if t["follows"]:
                    add(table, key, 4)
        for at in reopen_events(t):
            if a <= at < b:
                add(per, bucket(at, step)[0], 3)
                add(grp, group_key(t, q["by"]), 3)
    for at in h["autos"]:
        if full and a <= at < b:
            add(per, bucket(at, step)[0], 5)
    labels, d = [], bucket(a, step)[1]
    last = dt.date.fromisoformat(q["to"])
    while d <= last:
        labels.append(bucket(int(dt.datetime.combine(d, dt.time(12), HEL).timestamp()),
                             step)[0])
        d = d + dt.timedelta(days=7) if step == "week" else (d + dt.timedelta(days=32)).replace(
            day=1)
    rows = []
    for label in labels:
        r = per.get(label, [0] * 6)
        rows.append([label] + r[:5] + [r[5] if full else None])
    tot = [sum(r[i + 1] for r in rows if r[i + 1] is not None) for i in range(6)]
    totals = ["all"] + tot[:5] + [tot[5] if full else None]
    gtot = [sum(v[i] for v in grp.values()) for i in range(5)]
    return {"volume": (rows, totals),
            "volume_by": (rows_for({k: v[:5] for k, v in grp.items()}, q["by"], sc,
                                   [0] * 5), ["all"] + gtot)}


def expect_backlog(h, sc, q, now):
    items = [t for t in h["tickets"] if t["status"] in ("new", "open", "pending")
             and not t["merged_into"] and visible(sc, t)]

    def cells(ts):
        ages = [now - t["created"] for t in ts]
        return [len(ts), sum(1 for x in ages if x < 86400),
                sum(1 for x in ages if 86400 <= x < 3 * 86400),
                sum(1 for x in ages if 3 * 86400 <= x < 7 * 86400),
                sum(1 for x in ages if 7 * 86400 <= x < 30 * 86400),
                sum(1 for x in ages if x >= 30 * 86400),
                sum(1 for t in ts if t["status"] == "pending"),
                sum(1 for t in ts if not t["assignee"])]

    groups = {}
    for t in items:
        groups.setdefault(group_key(t, q["by"]), []).append(t)
    oldest = sorted(items, key=lambda t: (t["created"], t["number"]))[:10]
    old = [[t["number"], now - t["created"], t["queue"], t["municipality"],
            None if t["sector"] == "sote" and not sc["sote"] else t["subject"]] for t in oldest]
    old.sort(key=lambda r: (-r[1], r[0]))
    return {"backlog": (rows_for({k: cells(v) for k, v in groups.items()}, q["by"], sc,
                                 cells([])), ["all"] + cells(items)),
            "oldest": (old, None)}


def expect_workload(h, sc, q, now):
    a, b = period_bounds(q["from"], q["to"])
    tick = {t["number"]: t for t in h["tickets"]}
    per = {}

    def row(login):
        return per.setdefault(login, [set(), 0, 0, 0])

    for t in h["tickets"]:
        if not visible(sc, t):
            continue
        login = AGENTS[(t["assignee"] or 6) - 1][0]
        for kind, at in t["events"]:
            if not a <= at < b:
                continue
            if kind.startswith("status:") and kind.split(":")[2] in ("resolved", "closed"):
                row(login)[0].add(t["number"])
            elif kind == "reply":
                row(login)[1] += 1
    for n, who, at in h["notes"]:
        if a <= at < b and visible(sc, tick[n]):
            row(AGENTS[who - 1][0])[2] += 1
    for n, who, minutes, at in h["worklog"]:
        if a <= at < b and visible(sc, tick[n]):
            row(AGENTS[who - 1][0])[3] += minutes
    cells = {k: [len(v[0])] + v[1:] for k, v in per.items()}
    tot = [sum(c[i] for c in cells.values()) for i in range(4)]
    return {"workload": (rows_for(cells, "agent", {"members": []}, [0] * 4), ["all"] + tot)}


def check(path, reader, kind, params):
    with open(path) as f:
        h = json.load(f)
    doc = json.load(sys.stdin)
    now = int(dt.datetime.fromisoformat(doc["generated_at"]).timestamp())
    sc = scope(reader)
    defaults = {"by": {"backlog": "queue", "workload": "agent"}.get(kind, "municipality"),
                "step": "month"}
    q = dict(defaults, **params)
    q["from"], q["to"] = doc["period"]["from"], doc["period"]["to"]
    want = {"sla": expect_sla, "volume": expect_volume, "backlog": expect_backlog,
            "workload": expect_workload}[kind](h, sc, q, now)
    got = {t["name"]: (t["rows"], t.get("totals")) for t in doc["tables"]}
    bad = []
    if set(got) != set(want):
        bad.append("tables %s, want %s" % (sorted(got), sorted(want)))
    for name, (rows, totals) in want.items():
        g_rows, g_totals = got.get(name, (None, None))
        if name == "oldest" and g_rows is not None:
            # Ages are read a moment apart: within 3 s.
            g_rows = [r[:1] + [w[1] if abs(r[1] - w[1]) <= 3 else r[1]] + r[2:]
                      for r, w in zip(g_rows, rows)] + g_rows[len(rows):]
        if g_rows != rows:
            bad.append("%s rows:\n  got  %s\n  want %s" % (name, g_rows, rows))
        if g_totals != totals:
            bad.append("%s totals:\n  got  %s\n  want %s" % (name, g_totals, totals))
    for line in "\n".join(bad).splitlines():
        print("#   " + line)
    return 1 if bad else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "gen":
        gen(argv[2])
        return 0
    if len(argv) >= 5 and argv[1] == "check":
        params = dict(a.split("=", 1) for a in argv[5:])
        return check(argv[2], int(argv[3]), argv[4], params)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
