"""SQLite persistence for the simulated outside world.

Every SQL statement lives in this module so the schema and the queries can be read together;
the domain modules only use the small `Tx` API. One connection, guarded by a lock, in WAL
mode: the service survives restarts and concurrent requests never interleave a transaction.
The process owns its file, so it can also remember whether any fault is pending and spare
every request the fault lookup while none is.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Literal

Row = dict[str, Any]

Table = Literal[
    "products",
    "reservations",
    "restocks",
    "charges",
    "refunds",
    "emails",
    "orders",
    "users",
    "billing_profiles",
    "preferences",
    "welcome_sequences",
    "faults",
    "idempotency",
    "requests",
]

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS products (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, price TEXT NOT NULL,
    stock INTEGER NOT NULL, active INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS reservations (
    id TEXT PRIMARY KEY, order_id TEXT NOT NULL, product_id INTEGER NOT NULL,
    quantity INTEGER NOT NULL, status TEXT NOT NULL, previous_stock INTEGER NOT NULL,
    new_stock INTEGER NOT NULL, created_at TEXT NOT NULL, released_at TEXT,
    UNIQUE (order_id, product_id)
);
CREATE TABLE IF NOT EXISTS restocks (
    id TEXT PRIMARY KEY, order_id TEXT NOT NULL, return_id TEXT NOT NULL,
    product_id INTEGER NOT NULL, quantity INTEGER NOT NULL, status TEXT NOT NULL,
    created_at TEXT NOT NULL, reversed_at TEXT,
    UNIQUE (return_id, product_id)
);
CREATE INDEX IF NOT EXISTS restocks_by_order ON restocks (order_id);
CREATE TABLE IF NOT EXISTS charges (
    id TEXT PRIMARY KEY, amount TEXT NOT NULL, currency TEXT NOT NULL, method TEXT NOT NULL,
    description TEXT, metadata TEXT NOT NULL, transaction_id TEXT NOT NULL,
    status TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS refunds (
    id TEXT PRIMARY KEY, charge_id TEXT NOT NULL REFERENCES charges (id),
    amount TEXT NOT NULL, reason TEXT, status TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS emails (
    id TEXT PRIMARY KEY, recipient TEXT NOT NULL, subject TEXT NOT NULL, template TEXT,
    data TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT, order_number TEXT NOT NULL UNIQUE,
    workflow_id TEXT NOT NULL UNIQUE, customer_email TEXT NOT NULL, customer_name TEXT NOT NULL,
    customer_id TEXT, items TEXT NOT NULL, subtotal TEXT NOT NULL, tax TEXT NOT NULL,
    shipping TEXT NOT NULL, total TEXT NOT NULL, payment_id TEXT NOT NULL, transaction_id TEXT,
    reservation_ids TEXT NOT NULL, status TEXT NOT NULL, payment_status TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, email TEXT NOT NULL, email_key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL, phone TEXT, "plan" TEXT NOT NULL, marketing_consent INTEGER NOT NULL,
    referral_code TEXT, source TEXT, status TEXT NOT NULL, extra TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS billing_profiles (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL UNIQUE, "plan" TEXT NOT NULL,
    payment_method TEXT NOT NULL, billing_address TEXT NOT NULL, status TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS preferences (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL UNIQUE, marketing_consent INTEGER NOT NULL,
    newsletter_frequency TEXT NOT NULL, notifications TEXT NOT NULL, theme TEXT NOT NULL,
    language TEXT NOT NULL, timezone TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS welcome_sequences (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL, email TEXT NOT NULL, name TEXT,
    "plan" TEXT NOT NULL, features TEXT NOT NULL, onboarding_steps TEXT NOT NULL,
    email_ids TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS welcome_by_user ON welcome_sequences (user_id, created_at);
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY AUTOINCREMENT, operation TEXT NOT NULL, mode TEXT NOT NULL,
    status INTEGER NOT NULL, retry_after INTEGER NOT NULL, delay_seconds REAL NOT NULL,
    remaining INTEGER NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    idem_key TEXT NOT NULL, method TEXT NOT NULL, route TEXT NOT NULL, status INTEGER NOT NULL,
    body TEXT NOT NULL, headers TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (idem_key, method, route)
);
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL, method TEXT NOT NULL,
    path TEXT NOT NULL, status INTEGER NOT NULL, correlation_id TEXT, idempotency_key TEXT
);
CREATE INDEX IF NOT EXISTS requests_by_correlation ON requests (correlation_id);
"""

_JSON_COLUMNS: Final[Mapping[str, frozenset[str]]] = {
    "charges": frozenset({"metadata"}),
    "emails": frozenset({"data"}),
    "orders": frozenset({"items", "reservation_ids"}),
    "users": frozenset({"extra"}),
    "billing_profiles": frozenset({"payment_method", "billing_address"}),
    "preferences": frozenset({"notifications"}),
    "welcome_sequences": frozenset({"features", "onboarding_steps", "email_ids"}),
    "idempotency": frozenset({"body", "headers"}),
}
_BOOL_COLUMNS: Final[Mapping[str, frozenset[str]]] = {
    "products": frozenset({"active"}),
    "users": frozenset({"marketing_consent"}),
    "preferences": frozenset({"marketing_consent"}),
}


def _quote(name: str) -> str:
    """Quote an identifier; names only ever come from code, never from requests."""
    return '"' + name.replace('"', '""') + '"'


def _encode(table: str, column: str, value: Any) -> Any:
    if column in _JSON_COLUMNS.get(table, ()):
        return json.dumps(value)
    if isinstance(value, Decimal):
        return str(value)
    return value


def _decode(table: str, row: sqlite3.Row) -> Row:
    out: Row = dict(row)
    for column in _JSON_COLUMNS.get(table, ()):
        if out.get(column) is not None:
            out[column] = json.loads(out[column])
    for column in _BOOL_COLUMNS.get(table, ()):
        if column in out:
            out[column] = bool(out[column])
    return out


class Tx:
    """The queries available inside one transaction (see `Database.transaction`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.faults_written = False
        """Set by any write to `faults`, so the database re-reads whether any is pending."""

    def _writing(self, table: Table) -> None:
        """Note writes that can change whether a fault is pending."""
        if table == "faults":
            self.faults_written = True

    def _where(self, table: str, where: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """Build a WHERE clause; a None value means "any" so optional filters pass straight in."""
        used = {k: v for k, v in where.items() if v is not None}
        if not used:
            return "", []
        clause = " AND ".join(f"{_quote(k)} = ?" for k in used)
        return " WHERE " + clause, [_encode(table, k, v) for k, v in used.items()]

    def insert(self, table: Table, row: Mapping[str, Any]) -> int:
        """Insert one row and return its rowid."""
        self._writing(table)
        columns = ", ".join(_quote(c) for c in row)
        marks = ", ".join("?" for _ in row)
        values = [_encode(table, c, v) for c, v in row.items()]
        cur = self._conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)
        return int(cur.lastrowid or 0)

    def find(self, table: Table, **where: Any) -> list[Row]:
        """Rows matching all non-None equality filters, oldest first."""
        clause, params = self._where(table, where)
        cur = self._conn.execute(f"SELECT * FROM {table}{clause} ORDER BY rowid", params)
        return [_decode(table, r) for r in cur.fetchall()]

    def find_in(self, table: Table, column: str, values: Collection[Any]) -> list[Row]:
        """Rows whose `column` is one of `values` (one query for a whole batch), oldest first."""
        if not values:
            return []
        marks = ", ".join("?" for _ in values)
        sql = f"SELECT * FROM {table} WHERE {_quote(column)} IN ({marks}) ORDER BY rowid"
        cur = self._conn.execute(sql, [_encode(table, column, v) for v in values])
        return [_decode(table, r) for r in cur.fetchall()]

    def find_one(self, table: Table, **where: Any) -> Row | None:
        """The first matching row, or None."""
        rows = self.find(table, **where)
        return rows[0] if rows else None

    def count(self, table: Table, **where: Any) -> int:
        """Number of rows matching all non-None equality filters."""
        clause, params = self._where(table, where)
        cur = self._conn.execute(f"SELECT COUNT(*) FROM {table}{clause}", params)
        return int(cur.fetchone()[0])

    def update(self, table: Table, key: tuple[str, Any], changes: Mapping[str, Any]) -> int:
        """Update the row whose `key[0]` column equals `key[1]`; returns rows changed."""
        self._writing(table)
        sets = ", ".join(f"{_quote(c)} = ?" for c in changes)
        values = [_encode(table, c, v) for c, v in changes.items()]
        sql = f"UPDATE {table} SET {sets} WHERE {_quote(key[0])} = ?"
        return self._conn.execute(sql, [*values, key[1]]).rowcount

    def delete_all(self, table: Table) -> int:
        """Empty a table (admin endpoints only)."""
        self._writing(table)
        return self._conn.execute(f"DELETE FROM {table}").rowcount

    def count_sequences_since(self, user_id: str, since: str) -> int:
        """Welcome sequences for a user created after an ISO timestamp (rate limiting)."""
        sql = "SELECT COUNT(*) FROM welcome_sequences WHERE user_id = ? AND created_at > ?"
        return int(self._conn.execute(sql, (user_id, since)).fetchone()[0])

    def take_fault(self, operation: str) -> Row | None:
        """Consume one use of the oldest pending fault for an operation."""
        self._writing("faults")
        cur = self._conn.execute(
            "SELECT * FROM faults WHERE operation = ? AND remaining > 0 ORDER BY id LIMIT 1",
            (operation,),
        )
        row = cur.fetchone()
        if row is None:
            return None
        self._conn.execute("UPDATE faults SET remaining = remaining - 1 WHERE id = ?", (row["id"],))
        self._conn.execute("DELETE FROM faults WHERE remaining <= 0")
        return _decode("faults", row)

    def pending_faults(self) -> list[Row]:
        """Faults with uses left, oldest first."""
        cur = self._conn.execute("SELECT * FROM faults WHERE remaining > 0 ORDER BY id")
        return [_decode("faults", r) for r in cur.fetchall()]

    def list_requests(self, correlation_id: str | None, path_prefix: str | None) -> list[Row]:
        """The request log, oldest first, optionally filtered."""
        sql = "SELECT * FROM requests WHERE 1 = 1"
        params: list[Any] = []
        if correlation_id is not None:
            sql += " AND correlation_id = ?"
            params.append(correlation_id)
        if path_prefix is not None:
            sql += " AND substr(path, 1, ?) = ?"
            params += [len(path_prefix), path_prefix]
        cur = self._conn.execute(sql + " ORDER BY timestamp, id", params)
        return [_decode("requests", r) for r in cur.fetchall()]

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo a handler's partial writes if it raises, keeping the outer transaction."""
        self._conn.execute("SAVEPOINT handler")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK TO handler")
            self._conn.execute("RELEASE handler")
            raise
        self._conn.execute("RELEASE handler")


class Database:
    """One SQLite file in WAL mode; all access serialized by a lock."""

    def __init__(self, path: str | Path) -> None:
        target = str(path)
        if target != ":memory:":
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute("PRAGMA busy_timeout = 5000")
        self._conn.execute("PRAGMA foreign_keys = ON")
        self._conn.executescript(SCHEMA)
        self._faults_pending = self._count_pending_faults() > 0

    @property
    def faults_pending(self) -> bool:
        """Whether any fault has uses left: re-read after every transaction that wrote to
        `faults` (committed or rolled back), so it is never stale inside this process."""
        return self._faults_pending

    def _count_pending_faults(self) -> int:
        cur = self._conn.execute("SELECT COUNT(*) FROM faults WHERE remaining > 0")
        return int(cur.fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error), holding the lock throughout."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            tx = Tx(self._conn)
            try:
                yield tx
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                if tx.faults_written:
                    self._faults_pending = self._count_pending_faults() > 0

    def close(self) -> None:
        """Close the connection (checkpointing the WAL)."""
        with self._lock:
            self._conn.close()
