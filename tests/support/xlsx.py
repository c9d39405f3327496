"""Read back the cells of a one-sheet .xlsx, with the standard library only, so tests can
compare a workbook cell by cell with its CSV (and see any formula or link it holds)."""

from __future__ import annotations

import io
import re
import zipfile
from xml.etree import ElementTree as ET

NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def _column(ref: str) -> int:
    letters = re.match(r"[A-Z]+", ref)
    assert letters
    n = 0
    for ch in letters.group(0):
        n = n * 26 + (ord(ch) - 64)
    return n - 1


def _text(node: ET.Element | None) -> str:
    return "" if node is None else "".join(t.text or "" for t in node.iter(f"{{{NS['m']}}}t"))


def sheet_xml(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        return book.read("xl/worksheets/sheet1.xml").decode("utf-8")


def read_xlsx(data: bytes) -> list[list[str]]:
    """Every row of the first sheet as text, as a CSV reader would give it: numbers as written
    (3, not 3.0), empty cells as ""."""
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        shared = []
        if "xl/sharedStrings.xml" in book.namelist():
            root = ET.fromstring(book.read("xl/sharedStrings.xml"))
            shared = [_text(si) for si in root.findall("m:si", NS)]
        sheet = ET.fromstring(book.read("xl/worksheets/sheet1.xml"))
    rows: list[list[str]] = []
    for row in sheet.iter(f"{{{NS['m']}}}row"):
        cells: dict[int, str] = {}
        for cell in row.findall("m:c", NS):
            kind = cell.get("t")
            value = cell.find("m:v", NS)
            if kind == "inlineStr":
                text = _text(cell.find("m:is", NS))
            elif kind == "s":
                text = shared[int(value.text or 0)] if value is not None else ""
            elif kind == "b":
                text = "TRUE" if value is not None and value.text == "1" else "FALSE"
            else:
                raw = value.text if value is not None else ""
                number = float(raw) if raw else None
                text = "" if number is None else (str(int(number)) if number.is_integer() else raw)
            cells[_column(cell.get("r", "A"))] = text
        width = max(cells, default=-1) + 1
        rows.append([cells.get(i, "") for i in range(width)])
    return rows
