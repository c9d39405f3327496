"""RQ job: write a large research export to a file under instance/exports."""

from __future__ import annotations

from smsapp.runtime import get_runtime
from smsapp.services.research import exports


def export_to_file(export_id: int) -> dict[str, object]:
    run = exports.write_run(get_runtime().db, export_id)
    if run is None:
        return {"export_id": export_id, "status": "missing"}
    return {"export_id": export_id, "status": run.status, "rows": run.rows_done}
