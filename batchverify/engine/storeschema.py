"""The checkpoint store's schema: its tables, version and the migration from the first release's."""

from __future__ import annotations

from batchverify.models import RowResult

__all__ = [
    "ANSWER_COLUMNS",
    "MIGRATE_FROM_1",
    "QUALIFIED_COLUMNS",
    "SCHEMA",
    "SCHEMA_VERSION",
    "answer_values",
]

SCHEMA_VERSION = "2"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    closed_at TEXT,
    runs INTEGER NOT NULL DEFAULT 0,
    last_state TEXT NOT NULL DEFAULT 'running'
);
CREATE TABLE IF NOT EXISTS answers (
    number INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    status_code INTEGER,
    result_code TEXT,
    billable INTEGER NOT NULL,
    description TEXT NOT NULL,
    request_id TEXT NOT NULL,
    checked_at TEXT NOT NULL,
    error TEXT NOT NULL,
    final INTEGER NOT NULL,
    tries INTEGER NOT NULL DEFAULT 0,
    tried_run INTEGER
);
CREATE TABLE IF NOT EXISTS inflight (
    number INTEGER PRIMARY KEY, job_id INTEGER NOT NULL, sent_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    state TEXT NOT NULL DEFAULT 'running',
    requests INTEGER NOT NULL DEFAULT 0,
    billable INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS job_status (
    job_id INTEGER NOT NULL, number INTEGER NOT NULL, status TEXT NOT NULL,
    PRIMARY KEY (job_id, number)
) WITHOUT ROWID;
-- A recheck that failed while a final answer was kept: the answer stays, the attempt is noted.
CREATE TABLE IF NOT EXISTS attempts (
    number INTEGER PRIMARY KEY, job_id INTEGER NOT NULL, at TEXT NOT NULL, status TEXT NOT NULL,
    error TEXT NOT NULL, tries INTEGER NOT NULL DEFAULT 1, tried_run INTEGER
);
"""
# Version 1 stores (the first release) gain the columns above when a run opens them (the new
# tables come from the schema script, which only creates what is missing).
MIGRATE_FROM_1 = """
ALTER TABLE answers ADD COLUMN tries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE answers ADD COLUMN tried_run INTEGER;
UPDATE meta SET value='2' WHERE key='schema';
"""
ANSWER_COLUMNS = (
    "number, job_id, status, status_code, result_code, billable, description, request_id, checked_at, "
    "error, final, tries"
)
QUALIFIED_COLUMNS = ", ".join("a." + name.strip() for name in ANSWER_COLUMNS.split(","))


# A final answer as both stores keep it: number, status, status_code, result_code, billable (0/1),
# description, request_id, checked_at.
AnswerValues = tuple[int, str, int | None, str | None, int, str, str, str]


def answer_values(result: RowResult) -> tuple[str, int | None, str | None, int, str, str, str]:
    """The answer's columns from ``status`` to ``checked_at``, in the table's order."""
    return (
        result.status.value,
        result.status_code,
        result.result_code,
        int(result.billable),
        result.description,
        result.request_id,
        result.checked_at,
    )
