"""A study's ratings in the layouts other MRMC tools read (pure), so that a statistician can
re-run the analysis there: MRMCaov's long CSV (``reader,treatment,case,truth,rating``) and
iMRMC's ``.imrmc`` text (read by iMRMC and by RJafroc's ``DfReadDataFile(format="iMRMC")``).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

MRMCAOV_COLUMNS = ("reader", "treatment", "case", "truth", "rating")
_UNSAFE = re.compile(r"[,\r\n]")


def mrmcaov_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The long rows as CSV with MRMCaov's column names, one row per reading of a case."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(MRMCAOV_COLUMNS)
    for row in rows:
        writer.writerow([_text(row[c]) for c in MRMCAOV_COLUMNS])
    return out.getvalue()


def imrmc_text(rows: Sequence[Mapping[str, Any]], description: Sequence[str] = ()) -> str:
    """iMRMC's input: free description lines, the counts (NR, N0, N1, NM), ``BEGIN DATA:``,
    then a truth line per case (reader -1, modality 0, score 0 or 1) and a line per reading
    (reader, case, modality, score). Cases are numbered 1..K in the rows' order (RJafroc's
    reader wants integer case ids); the description lines map the numbers to the cases."""
    cases = list(dict.fromkeys(str(r["case"]) for r in rows))
    number = {case: index for index, case in enumerate(cases, start=1)}
    truth = {str(r["case"]): int(r["truth"]) for r in rows}
    readers = list(dict.fromkeys(str(r["reader"]) for r in rows))
    modalities = list(dict.fromkeys(str(r["treatment"]) for r in rows))
    lines = [_safe(line) for line in description]
    lines.append("Cases: " + "; ".join(f"{number[c]} = {_safe(c)}" for c in cases))
    lines += [
        f"NR: {len(readers)}",
        f"N0: {sum(1 for c in cases if truth[c] == 0)}",
        f"N1: {sum(1 for c in cases if truth[c] == 1)}",
        f"NM: {len(modalities)}",
        "",
        "BEGIN DATA:",
    ]
    lines += [f"-1,{number[c]},0,{truth[c]}" for c in cases]
    lines += [
        f"{_safe(str(r['reader']))},{number[str(r['case'])]},{_safe(str(r['treatment']))},"
        f"{_text(r['rating'])}"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def _safe(value: str) -> str:
    """A label inside iMRMC's comma-separated lines: commas and line breaks become spaces."""
    return _UNSAFE.sub(" ", value)


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
