//! SQLite's C API on a connection sqlx opened: the crate's only FFI into SQLite, used to
//! write a batch's rows one by one through prepared statements, with no copy of a value and
//! no hop to sqlx's worker thread per statement.
//!
//! Why this is sound:
//! - [`RawDb`] is made from a [`LockedSqliteHandle`] and borrows it mutably for its whole
//!   life. While that handle exists, sqlx guarantees its worker thread makes no call on the
//!   connection or its statements (`LockedSqliteHandle::as_raw_handle`), so every call here
//!   has the connection to itself. [`RawDb`] and [`RawStmt`] hold raw pointers, so they are
//!   neither `Send` nor `Sync`: they are used on the thread that holds the lock.
//! - A [`RawStmt`] borrows its [`RawDb`] and is finalized in its `Drop`, so a statement never
//!   outlives the lock, let alone the connection (sqlx closes the connection with its own
//!   statements only).
//! - Text is bound with `SQLITE_STATIC` (no copy): [`RawStmt::run`] binds, steps, resets and
//!   clears the bindings before it returns, on every path, so SQLite never holds a pointer
//!   into a value after the call that borrowed it.
//! - [`RawDb::transaction`] ends its transaction (COMMIT, or ROLLBACK on any error or unwind)
//!   before it returns, so the connection goes back to sqlx outside a transaction; callers
//!   run it with no `.await` inside, so a cancelled future cannot stop it halfway.
#![allow(unsafe_code)]

use super::error::StoreError;
use super::sql::Val;
use libsqlite3_sys as ffi;
use sqlx::error::{DatabaseError, ErrorKind};
use sqlx::sqlite::LockedSqliteHandle;
use std::borrow::Cow;
use std::ffi::{c_int, CStr};
use std::fmt;
use std::marker::PhantomData;
use std::ptr::{self, NonNull};

/// An error SQLite reported through its C API: the extended result code and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawError {
    /// The extended result code (`SQLITE_CONSTRAINT_UNIQUE` = 2067, …).
    pub code: c_int,
    /// SQLite's message, with where in the batch it happened when known.
    pub message: String,
}

impl RawError {
    /// The same error with `context` (which row, which key) appended to the message.
    #[must_use]
    pub(crate) fn context(mut self, context: &str) -> Self {
        self.message = format!("{} ({context})", self.message);
        self
    }
}

impl fmt::Display for RawError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The code as sqlx's own SQLite errors show it: some messages are ambiguous alone.
        write!(f, "(code: {}) {}", self.code, self.message)
    }
}

impl std::error::Error for RawError {}

impl DatabaseError for RawError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Owned(self.code.to_string()))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        match self.code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => ErrorKind::UniqueViolation,
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
            ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
            ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

/// A locked SQLite connection, for direct calls (see the module docs for why it is sound).
pub(crate) struct RawDb<'h> {
    db: NonNull<ffi::sqlite3>,
    /// The lock this connection is used under, borrowed for as long as `self` lives.
    _lock: PhantomData<&'h mut ()>,
}

impl<'h> RawDb<'h> {
    /// The connection behind `handle`, usable for as long as the handle stays borrowed.
    pub(crate) fn new(handle: &'h mut LockedSqliteHandle<'_>) -> Self {
        Self { db: handle.as_raw_handle(), _lock: PhantomData }
    }

    /// The connection's last error.
    fn error(&self) -> RawError {
        // SAFETY: the connection is open and locked for us (module docs); errmsg returns a
        // NUL-terminated string owned by SQLite, copied here before any other call on the
        // connection could change it.
        unsafe {
            let code = ffi::sqlite3_extended_errcode(self.db.as_ptr());
            let message = CStr::from_ptr(ffi::sqlite3_errmsg(self.db.as_ptr())).to_string_lossy().into_owned();
            RawError { code, message }
        }
    }

    /// Whether a transaction is open on the connection.
    fn in_transaction(&self) -> bool {
        // SAFETY: the connection is open and locked for us (module docs).
        unsafe { ffi::sqlite3_get_autocommit(self.db.as_ptr()) == 0 }
    }

    /// Compiles one SQL statement (`SQLITE_PREPARE_PERSISTENT`: it is run many times).
    ///
    /// # Errors
    /// SQLite's error for SQL it cannot compile; an error for text holding more than one
    /// statement or none, or longer than SQLite takes.
    pub(crate) fn prepare(&self, sql: &str) -> Result<RawStmt<'_, 'h>, RawError> {
        let misuse = |message: String| RawError { code: ffi::SQLITE_MISUSE, message };
        let len = c_int::try_from(sql.len()).map_err(|_| misuse(format!("SQL of {} bytes is too long", sql.len())))?;
        let mut stmt = ptr::null_mut();
        let mut tail = ptr::null();
        // SAFETY: the connection is locked for us; `sql` is valid for `len` bytes (SQLite
        // reads no further, NUL or not) and outlives the call; the out-pointers are locals.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                self.db.as_ptr(),
                sql.as_ptr().cast(),
                len,
                ffi::SQLITE_PREPARE_PERSISTENT,
                &mut stmt,
                &mut tail,
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(self.error().context(&format!("compiling `{sql}`")));
        }
        let stmt = NonNull::new(stmt).ok_or_else(|| misuse(format!("no statement in `{sql}`")))?;
        // Finalized on drop from here on, whatever happens next.
        let mut stmt = RawStmt { stmt, db: self, params: 0 };
        // SAFETY: `tail` points into `sql` (at its end when all of it was compiled).
        let used = unsafe { tail.cast::<u8>().offset_from(sql.as_ptr()) };
        if usize::try_from(used).ok() != Some(sql.len()) {
            return Err(misuse(format!("more than one statement in `{sql}`")));
        }
        // SAFETY: a valid statement of this connection.
        let params = unsafe { ffi::sqlite3_bind_parameter_count(stmt.stmt.as_ptr()) };
        stmt.params = usize::try_from(params).unwrap_or(0);
        Ok(stmt)
    }

    /// Runs one statement without parameters (`BEGIN`, `COMMIT`, …).
    fn execute(&self, sql: &str) -> Result<(), RawError> {
        self.prepare(sql)?.run(&[]).map(drop)
    }

    /// Runs `body` in one write transaction (`BEGIN IMMEDIATE`: the write lock is taken up
    /// front, waiting up to the connection's busy timeout, so no statement of the batch can
    /// find the database locked halfway): all of it is committed or, on any error (or
    /// unwind), all of it is rolled back before this returns.
    ///
    /// # Errors
    /// [`StoreError::Transaction`] when begin or commit fails (or a transaction is already
    /// open on the connection, which is left alone); `body`'s error otherwise.
    pub(crate) fn transaction<T>(&self, body: impl FnOnce(&Self) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let failed =
            |op: &'static str| move |e: RawError| StoreError::Transaction { backend: "sqlite", op, source: e.into() };
        if self.in_transaction() {
            let message = "a transaction is already open on the writer's connection".to_owned();
            return Err(failed("begin")(RawError { code: ffi::SQLITE_MISUSE, message }));
        }
        self.execute("BEGIN IMMEDIATE").map_err(failed("begin"))?;
        /// Rolls back whatever transaction is still open when dropped.
        struct Rollback<'a, 'h>(&'a RawDb<'h>);
        impl Drop for Rollback<'_, '_> {
            fn drop(&mut self) {
                // SQLite rolls back by itself after some errors: only roll back what is open.
                if self.0.in_transaction() {
                    if let Err(e) = self.0.execute("ROLLBACK") {
                        tracing::error!(error = %e, "sqlite: rolling back a failed batch failed");
                    }
                }
            }
        }
        let _rollback = Rollback(self);
        let out = body(self)?;
        self.execute("COMMIT").map_err(failed("commit"))?;
        Ok(out)
    }
}

/// A prepared statement of a [`RawDb`], finalized when dropped.
pub(crate) struct RawStmt<'a, 'h> {
    stmt: NonNull<ffi::sqlite3_stmt>,
    db: &'a RawDb<'h>,
    /// How many parameters the SQL has (`?1` … `?N`).
    params: usize,
}

impl RawStmt<'_, '_> {
    /// Binds `values` to `?1` … `?N` in order, runs the statement to completion, and resets
    /// it (bindings cleared) for the next row; returns how many rows it changed.
    ///
    /// Text binds as UTF-8 without a copy, integers and booleans as 64-bit integers, the
    /// double exactly as it is (NaN reads back as NULL), `None` as NULL.
    ///
    /// # Errors
    /// SQLite's error (a constraint, a full disk…), or a value count that does not match
    /// the statement's parameters.
    pub(crate) fn run(&mut self, values: &[Val<'_>]) -> Result<u64, RawError> {
        let out = self.bind_and_step(values);
        // SAFETY: a valid statement; resetting and clearing end every use SQLite can make
        // of the text bound above (SQLITE_STATIC), before `values` can go away.
        unsafe {
            ffi::sqlite3_reset(self.stmt.as_ptr());
            ffi::sqlite3_clear_bindings(self.stmt.as_ptr());
        }
        out
    }

    fn bind_and_step(&mut self, values: &[Val<'_>]) -> Result<u64, RawError> {
        if values.len() != self.params {
            let message = format!("{} values for a statement of {} parameters", values.len(), self.params);
            return Err(RawError { code: ffi::SQLITE_RANGE, message });
        }
        let stmt = self.stmt.as_ptr();
        for (i, v) in values.iter().enumerate() {
            // At most `params` values, and SQLite's parameter count is a c_int.
            let at = c_int::try_from(i + 1).unwrap_or(c_int::MAX);
            // SAFETY: a valid statement and an index within its parameters. Text is bound
            // SQLITE_STATIC: `v` outlives this call and `run` clears the binding before it
            // returns (module docs); the pointer and length describe valid UTF-8.
            let rc = unsafe {
                match v {
                    Val::Text(Some(s)) => ffi::sqlite3_bind_text64(
                        stmt,
                        at,
                        s.as_ptr().cast(),
                        s.len() as u64,
                        ffi::SQLITE_STATIC(),
                        ffi::SQLITE_UTF8 as u8,
                    ),
                    Val::Int(Some(n)) => ffi::sqlite3_bind_int64(stmt, at, *n),
                    Val::Real(Some(f)) => ffi::sqlite3_bind_double(stmt, at, *f),
                    Val::Bool(b) => ffi::sqlite3_bind_int64(stmt, at, i64::from(*b)),
                    Val::Text(None) | Val::Int(None) | Val::Real(None) => ffi::sqlite3_bind_null(stmt, at),
                }
            };
            if rc != ffi::SQLITE_OK {
                return Err(self.db.error());
            }
        }
        // SAFETY: a valid statement with every parameter bound.
        match unsafe { ffi::sqlite3_step(stmt) } {
            // SAFETY: the connection is locked for us.
            ffi::SQLITE_DONE => Ok(u64::try_from(unsafe { ffi::sqlite3_changes64(self.db.db.as_ptr()) }).unwrap_or(0)),
            ffi::SQLITE_ROW => {
                Err(RawError { code: ffi::SQLITE_MISUSE, message: "a write statement returned rows".to_owned() })
            }
            _ => Err(self.db.error()),
        }
    }
}

impl Drop for RawStmt<'_, '_> {
    fn drop(&mut self) {
        // SAFETY: the statement is valid, finalized once, here, while its connection is
        // still locked for us (it borrows the RawDb).
        unsafe {
            ffi::sqlite3_finalize(self.stmt.as_ptr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::{Connection, SqliteConnection};

    async fn conn() -> SqliteConnection {
        let mut c = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        sqlx::query("CREATE TABLE t (k INTEGER PRIMARY KEY, s TEXT, r REAL, b INTEGER) STRICT")
            .execute(&mut c)
            .await
            .unwrap();
        c
    }

    fn row(k: i64, s: Option<&str>, r: Option<f64>, b: bool) -> [Val<'_>; 4] {
        [Val::Int(Some(k)), Val::Text(s.map(Cow::Borrowed)), Val::Real(r), Val::Bool(b)]
    }

    const INSERT: &str = "INSERT INTO t (k, s, r, b) VALUES (?1, ?2, ?3, ?4)";

    #[tokio::test]
    async fn values_bind_and_read_back_exactly() {
        let mut c = conn().await;
        let texts = ["", "é\u{0}\"'\\\n x", "🦀"];
        {
            let mut h = c.lock_handle().await.unwrap();
            let db = RawDb::new(&mut h);
            let mut stmt = db.prepare(INSERT).unwrap();
            for (i, s) in texts.iter().enumerate() {
                let r = f64::from_bits(0x3fe0_0000_0000_0001 + i as u64);
                assert_eq!(stmt.run(&row(i as i64, Some(s), Some(r), i % 2 == 0)).unwrap(), 1);
            }
            assert_eq!(stmt.run(&row(i64::MIN, None, None, false)).unwrap(), 1);
            assert_eq!(stmt.run(&row(i64::MAX, None, Some(f64::NAN), true)).unwrap(), 1);
        }
        let got: Vec<(i64, Option<String>, Option<f64>, bool)> =
            sqlx::query_as("SELECT k, s, r, b FROM t ORDER BY k").fetch_all(&mut c).await.unwrap();
        assert_eq!(got[0], (i64::MIN, None, None, false));
        assert_eq!(got[4], (i64::MAX, None, None, true), "NaN binds as NULL");
        for (i, s) in texts.iter().enumerate() {
            let (k, text, r, b) = &got[i + 1];
            assert_eq!((*k, text.as_deref(), *b), (i as i64, Some(*s), i % 2 == 0));
            assert_eq!(r.map(f64::to_bits), Some(0x3fe0_0000_0000_0001 + i as u64), "bit for bit");
        }
    }

    #[tokio::test]
    async fn a_refused_row_names_the_constraint_and_the_statement_goes_on() {
        let mut c = conn().await;
        let mut h = c.lock_handle().await.unwrap();
        let db = RawDb::new(&mut h);
        let mut stmt = db.prepare(INSERT).unwrap();
        stmt.run(&row(1, Some("a"), None, true)).unwrap();
        let err = stmt.run(&row(1, Some("b"), None, true)).unwrap_err();
        assert_eq!(err.code, ffi::SQLITE_CONSTRAINT_PRIMARYKEY, "{err}");
        assert!(err.to_string().contains("UNIQUE constraint failed: t.k"), "{err}");
        assert_eq!(DatabaseError::kind(&err), ErrorKind::UniqueViolation);
        let wrong = stmt.run(&[Val::Int(Some(2))]).unwrap_err();
        assert_eq!(
            (wrong.code, wrong.message.as_str()),
            (ffi::SQLITE_RANGE, "1 values for a statement of 4 parameters")
        );
        assert_eq!(stmt.run(&row(2, Some("c"), None, false)).unwrap(), 1, "the statement is reset after an error");
    }

    #[tokio::test]
    async fn bad_sql_and_two_statements_are_refused() {
        let mut c = conn().await;
        let mut h = c.lock_handle().await.unwrap();
        let db = RawDb::new(&mut h);
        let err = db.prepare("INSERT INTO nope VALUES (1)").err().unwrap();
        assert!(err.message.contains("no such table: nope") && err.message.contains("compiling"), "{err}");
        let err = db.prepare("SELECT 1; SELECT 2").err().unwrap();
        assert_eq!(err.code, ffi::SQLITE_MISUSE, "{err}");
        let err = db.prepare("").err().unwrap();
        assert!(err.message.contains("no statement"), "{err}");
    }

    #[tokio::test]
    async fn a_failing_body_rolls_back_everything_and_the_next_transaction_commits() {
        let mut c = conn().await;
        {
            let mut h = c.lock_handle().await.unwrap();
            let db = RawDb::new(&mut h);
            let err = db
                .transaction(|db| {
                    let mut stmt = db.prepare(INSERT).unwrap();
                    stmt.run(&row(1, Some("kept?"), None, true)).unwrap();
                    let second = stmt.run(&row(1, Some("dup"), None, true)).unwrap_err();
                    Err::<(), _>(StoreError::InvalidBatch(second.to_string()))
                })
                .unwrap_err();
            assert!(err.to_string().contains("UNIQUE"), "{err}");
            assert!(!db.in_transaction(), "rolled back");
            db.transaction(|db| {
                db.prepare(INSERT)
                    .unwrap()
                    .run(&row(7, None, None, false))
                    .map(drop)
                    .map_err(|e| StoreError::InvalidBatch(e.to_string()))
            })
            .unwrap();
        }
        let keys: Vec<i64> = sqlx::query_scalar("SELECT k FROM t").fetch_all(&mut c).await.unwrap();
        assert_eq!(keys, [7], "nothing of the failed transaction, all of the next");
    }

    #[tokio::test]
    async fn an_open_transaction_is_left_alone() {
        let mut c = conn().await;
        sqlx::query("BEGIN").execute(&mut c).await.unwrap();
        sqlx::query("INSERT INTO t (k) VALUES (1)").execute(&mut c).await.unwrap();
        {
            let mut h = c.lock_handle().await.unwrap();
            let db = RawDb::new(&mut h);
            let err = db.transaction(|_| Ok(())).unwrap_err();
            assert!(matches!(err, StoreError::Transaction { op: "begin", .. }), "{err}");
            assert!(db.in_transaction(), "the caller's transaction is not rolled back");
        }
        sqlx::query("COMMIT").execute(&mut c).await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM t").fetch_one(&mut c).await.unwrap();
        assert_eq!(n, 1);
    }
}
