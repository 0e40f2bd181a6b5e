#!/usr/bin/python3
"""Reads a rendered report back (CSV with the csv module, XLSX with
openpyxl) and compares every value with the JSON document it came from.

    report_check.py csv|xlsx DOC.json FILE

Prints what differs ("# ..." lines) and exits 1 when anything does."""
import csv
import datetime as dt
import json
import sys

UNKNOWN = {"fi": "(ei tiedossa)", "sv": "(okänd)", "en": "(unknown)"}
problems = []


def differ(where, got, want):
    problems.append(f"{where}: got {got!r}, want {want!r}")


def when(v, kind):
    if kind == "date":
        return dt.datetime.combine(dt.date.fromisoformat(v), dt.time())
    return dt.datetime.fromisoformat(v.replace("Z", "+00:00")).replace(tzinfo=None)


def null_text(doc, col):
    """What a null reads as: the group key is "unknown", the rest empty."""
    return UNKNOWN[doc.get("lang", "fi")] if col["key"] == "group" else None


# -- CSV ---------------------------------------------------------------------

def csv_number(s):
    return float(s.replace(",", "."))


def csv_cell(doc, col, v, s, where):
    t = col["type"]
    if v is None:
        want = null_text(doc, col) or ""
        if s != want:
            differ(where, s, want)
        return
    if t == "text":
        want = ("'" + v) if v[:1] in ("=", "+", "-", "@", "\t", "\r") else v
        ok = s == want
    elif t == "int":
        ok = s == str(v)
    elif t == "pct":
        ok = s.count(",") == 1 and len(s.split(",")[1]) == 1 and abs(csv_number(s) - v) <= 0.05 + 1e-9
    elif t == "duration":
        ok = "," in s and abs(csv_number(s) * 3600 - v) <= 18 + 1e-6
    elif t == "money":
        ok = s.count(",") == 1 and len(s.split(",")[1]) == 2 and round(csv_number(s) * 100) == v
    elif t == "date":
        ok = dt.datetime.strptime(s, "%d.%m.%Y") == when(v, t)
    else:
        ok = dt.datetime.strptime(s, "%d.%m.%Y %H:%M") == when(v, t).replace(second=0, microsecond=0)
    if not ok:
        differ(where, s, v)


def check_csv(doc, path):
    raw = open(path, "rb").read()
    if not raw.startswith(b"\xef\xbb\xbf"):
        problems.append("no BOM")
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    blocks, cur = [], []
    for r in rows:
        if r == []:
            blocks.append(cur)
            cur = []
        else:
            cur.append(r)
    blocks.append(cur)
    if len(blocks) != len(doc["tables"]):
        problems.append(f"{len(blocks)} tables in the CSV, {len(doc['tables'])} in the document")
        return
    for t, b in zip(doc["tables"], blocks):
        if b[0] != [t["title"]]:
            differ(t["name"] + " title", b[0], t["title"])
        heads = b[1]
        for c, h in zip(t["columns"], heads):
            if not h.startswith(c["title"]):
                differ(t["name"] + " header", h, c["title"])
        data = t["rows"] + ([t["totals"]] if t.get("totals") else [])
        if len(b) - 2 != len(data):
            differ(t["name"] + " rows", len(b) - 2, len(data))
            continue
        for i, (want, got) in enumerate(zip(data, b[2:])):
            if len(got) != len(t["columns"]):
                differ(f"{t['name']} row {i} cells", len(got), len(t["columns"]))
                continue
            for c, (col, v, s) in enumerate(zip(t["columns"], want, got)):
                if i == len(t["rows"]) and v is None and c == 0:
                    continue  # the totals' label, where the document has none
                csv_cell(doc, col, v, s, f"{t['name']}[{i}][{col['key']}]")


# -- XLSX ----------------------------------------------------------------------

FORMATS = {"date": "d.m.yyyy", "datetime": "d.m.yyyy hh:mm", "pct": "0.0%"}


def xlsx_cell(doc, col, v, cell, where):
    t, x = col["type"], cell.value
    if v is None:
        want = null_text(doc, col)
        if x != want:
            differ(where, x, want)
        return
    if t == "text":
        ok = x == v
    elif t == "int":
        ok = isinstance(x, (int, float)) and x == v
    elif t == "pct":
        ok = isinstance(x, (int, float)) and abs(x * 100 - v) < 1e-9
    elif t == "duration":
        ok = isinstance(x, (int, float)) and abs(x * 3600 - v) < 1e-6
    elif t == "money":
        ok = isinstance(x, (int, float)) and round(x * 100) == v and "€" in cell.number_format
    else:
        ok = isinstance(x, dt.datetime) and abs((x - when(v, t)).total_seconds()) < 1
    if t in FORMATS and cell.number_format != FORMATS[t]:
        differ(where + " format", cell.number_format, FORMATS[t])
    if not ok:
        differ(where, x, v)


def check_xlsx(doc, path):
    import openpyxl

    wb = openpyxl.load_workbook(path)
    names = wb.sheetnames
    if names[0] != "Info" or len(names) != 1 + len(doc["tables"]):
        problems.append(f"sheets {names}")
        return
    info = wb["Info"]
    if info["B3"].value != when(doc["period"]["from"], "date") or \
            info["C3"].value != when(doc["period"]["to"], "date"):
        differ("Info period", (info["B3"].value, info["C3"].value), doc["period"])
    if doc["definitions"] not in [c.value for c in info["B"]]:
        problems.append("Info has no definitions")
    charts = {}
    for ch in doc.get("charts", []):
        charts.setdefault(ch["table"], []).append(ch)
    for t, name in zip(doc["tables"], names[1:]):
        ws = wb[name]
        if len(name) > 31 or any(ch in name for ch in "[]:*?/\\"):
            problems.append(f"sheet name {name!r}")
        if ws.freeze_panes != "A2":
            differ(name + " frozen", ws.freeze_panes, "A2")
        for c, col in enumerate(t["columns"]):
            h = ws.cell(row=1, column=c + 1)
            if not (h.value or "").startswith(col["title"]) or not h.font.b:
                differ(name + " header", h.value, col["title"])
        data = t["rows"] + ([t["totals"]] if t.get("totals") else [])
        if ws.max_row != 1 + len(data):
            differ(name + " rows", ws.max_row - 1, len(data))
        for i, row in enumerate(data):
            for c, (col, v) in enumerate(zip(t["columns"], row)):
                if i == len(t["rows"]) and v is None and c == 0:
                    continue
                xlsx_cell(doc, col, v, ws.cell(row=i + 2, column=c + 1),
                          f"{name}!{i + 2}[{col['key']}]")
        want = [ch for ch in charts.get(t["name"], []) if t["rows"]]
        got = ws._charts
        if len(got) != len(want):
            differ(name + " charts", len(got), len(want))
            continue
        for g, w in zip(got, want):
            kind = {"bar": ("barChart", "bar"), "column": ("barChart", "col"),
                    "line": ("lineChart", None)}[w["kind"]]
            ys = w["y"] if isinstance(w["y"], list) else [w["y"]]
            if g.tagname != kind[0] or (kind[1] and g.type != kind[1]) or len(g.series) != len(ys):
                differ(name + " chart", (g.tagname, getattr(g, "type", None), len(g.series)),
                       (kind, len(ys)))


def main():
    what, doc_path, path = sys.argv[1:4]
    doc = json.load(open(doc_path, encoding="utf-8"))
    (check_csv if what == "csv" else check_xlsx)(doc, path)
    for p in problems[:20]:
        print("#  ", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
