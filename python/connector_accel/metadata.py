"""The seeds' extra tables, keyed so they never grow by copies: SYNC_VALIDATION (one row per table per sync pass),
SOURCE_TABLES and SOURCE_COLUMNS (the current catalog, one row per table / column). Switched by `sync_validation`
and `source_metadata`."""
import json
from datetime import datetime, timezone

from fivetran_connector_sdk import Operations as op

VALIDATION = "SYNC_VALIDATION"
TABLES = "SOURCE_TABLES"
COLUMNS = "SOURCE_COLUMNS"


def declarations(source) -> list:
    tables = []
    if source.sync_validation:
        tables.append({"table": VALIDATION, "primary_key": ["schema_name", "table_name", "sync_pass"], "columns": {
            "schema_name": "STRING", "table_name": "STRING", "sync_pass": "LONG", "phase": "STRING",
            "tier": "STRING", "source_rows_estimate": "LONG", "rows_upserted": "LONG", "rows_deleted": "LONG",
            "duration_seconds": "DOUBLE", "status": "STRING", "note": "STRING", "finished_at": "UTC_DATETIME"}})
    if source.source_metadata:
        tables.append({"table": TABLES, "primary_key": ["schema_name", "table_name"], "columns": {
            "schema_name": "STRING", "table_name": "STRING", "row_estimate": "LONG", "primary_key": "JSON",
            "cursor_column": "STRING", "cursor_note": "STRING", "soft_delete_column": "STRING",
            "filtered": "BOOLEAN", "seen_at": "UTC_DATETIME"}})
        tables.append({"table": COLUMNS, "primary_key": ["schema_name", "table_name", "column_name"], "columns": {
            "schema_name": "STRING", "table_name": "STRING", "column_name": "STRING", "ordinal": "INT",
            "source_type": "STRING", "destination_type": "STRING", "nullable": "BOOLEAN",
            "in_primary_key": "BOOLEAN", "seen_at": "UTC_DATETIME"}})
    return tables


def emit_catalog(tables: list) -> None:
    now = datetime.now(timezone.utc)
    for t in tables:
        op.upsert(TABLES, {
            "schema_name": t["schema"], "table_name": t["table"], "row_estimate": t["row_estimate"],
            "primary_key": list(t["primary_key"]), "cursor_column": t["cursor"],
            "cursor_note": t["cursor_reason"], "soft_delete_column": t["soft_delete"], "filtered": t["filtered"],
            "seen_at": now})
        for ordinal, (column, source_type) in enumerate(t["source_types"].items(), start=1):
            declared = t["columns"][column]
            op.upsert(COLUMNS, {
                "schema_name": t["schema"], "table_name": t["table"], "column_name": column, "ordinal": ordinal,
                "source_type": source_type,
                "destination_type": declared if isinstance(declared, str) else json.dumps(declared),
                "nullable": t["nullable"][column], "in_primary_key": column in t["primary_key"], "seen_at": now})


def emit_validation(table: dict, sync_pass: int, phase: str, upserted: int, deletes: int,
                    seconds: float) -> None:
    op.upsert(VALIDATION, {
        "schema_name": table["schema"], "table_name": table["table"], "sync_pass": sync_pass, "phase": phase,
        "tier": table["tier"], "source_rows_estimate": table["row_estimate"], "rows_upserted": upserted,
        "rows_deleted": deletes, "duration_seconds": round(seconds, 3), "status": "completed",
        "note": KEYLESS if not table["primary_key"] else None, "finished_at": datetime.now(timezone.utc)})


# What rows_upserted means for a table without a primary key: rows sent, not rows the destination will hold.
KEYLESS = ("no primary key: rows are keyed by a hash of all their columns, so identical rows land as one row and "
           "rows_upserted counts rows sent, not rows held")
