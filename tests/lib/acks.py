"""Counts the acknowledgements an SMTP test server received.

Usage: acks.py MAILDIR_NEW OUT

Writes OUT: "deliveries distinct-Message-IDs distinct-In-Reply-To", and
OUT.irt: the sorted In-Reply-To (the requester's Message-ID, without <>)
of each distinct acknowledgement, one a line.
"""
import email
import os
import sys
from email import policy

top, out = sys.argv[1], sys.argv[2]
mids, irts = set(), []
total = 0
for name in os.listdir(top):
    with open(os.path.join(top, name), "rb") as f:
        m = email.message_from_binary_file(f, policy=policy.compat32)
    total += 1
    mid = (m.get("Message-ID") or "").strip()
    if mid not in mids:
        mids.add(mid)
        irts.append((m.get("In-Reply-To") or "").strip().strip("<>"))
with open(out + ".irt", "w") as f:
    f.write("".join(sorted(i + "\n" for i in irts)))
with open(out, "w") as f:
    f.write("%d %d %d\n" % (total, len(mids), len(set(irts))))
