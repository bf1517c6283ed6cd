//! SQLite's binary JSON (JSONB, <https://sqlite.org/jsonb.html>), written from Rust: the
//! rows a write statement carries, as one array of arrays that SQLite reads without parsing
//! text.
//!
//! An element is a header and a payload. The header's first byte holds the element type in
//! its low four bits and the payload size in its high four: 0–11 is the size itself, 12, 13,
//! 14 and 15 say the size follows in 1, 2, 4 or 8 big-endian bytes. Only the types the rows
//! need are written: NULL, TRUE, FALSE, INT and FLOAT (the number as JSON text), TEXTRAW
//! (UTF-8 exactly as stored, which SQLite escapes itself if it ever renders it as JSON) and
//! ARRAY (the elements one after another).

use super::error::StoreError;
use super::sql::Val;
use std::io::Write as _;

const NULL: u8 = 0;
const TRUE: u8 = 1;
const FALSE: u8 = 2;
const INT: u8 = 3;
const FLOAT: u8 = 5;
const TEXTRAW: u8 = 10;
const ARRAY: u8 = 11;

/// The longest header: one byte and an 8-byte size.
const MAX_HEADER: usize = 9;

/// Appends the shortest header of an element of type `kind` whose payload is `size` bytes.
fn push_header(out: &mut Vec<u8>, kind: u8, size: usize) {
    // usize → u64 never truncates on the targets Rust supports.
    let size = size as u64;
    match size {
        0..=11 => out.push(((size as u8) << 4) | kind),
        12..=0xff => out.extend_from_slice(&[0xc0 | kind, size as u8]),
        0x100..=0xffff => {
            out.push(0xd0 | kind);
            out.extend_from_slice(&(size as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xe0 | kind);
            out.extend_from_slice(&(size as u32).to_be_bytes());
        }
        _ => {
            out.push(0xf0 | kind);
            out.extend_from_slice(&size.to_be_bytes());
        }
    }
}

/// Appends an element whose payload is `payload`.
fn push_element(out: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    push_header(out, kind, payload.len());
    out.extend_from_slice(payload);
}

/// Appends one value: text as TEXTRAW, integers as INT, finite doubles as FLOAT (shortest
/// round-trip form; SQLite's own conversion reads it back within one unit in the last
/// place, exactly as it read the JSON text written before), booleans as TRUE/FALSE, NULL (and non-finite doubles, as
/// JSON has no such number) as NULL. A blob is no column value: `false`, nothing appended.
fn push_value(out: &mut Vec<u8>, v: &Val<'_>) -> bool {
    let mut num = [0u8; 40];
    let mut number = |kind: u8, args: std::fmt::Arguments<'_>, out: &mut Vec<u8>| {
        let mut w: &mut [u8] = &mut num;
        // 40 bytes hold any i64 and any f64 in exponent form ("-2.2250738585072014e-308").
        let room = w.len();
        match w.write_fmt(args) {
            Ok(()) => {
                let n = room - w.len();
                push_element(out, kind, &num[..n]);
            }
            Err(_) => out.push(NULL),
        }
    };
    match v {
        Val::Text(Some(s)) => push_element(out, TEXTRAW, s.as_bytes()),
        Val::Int(Some(i)) => number(INT, format_args!("{i}"), out),
        Val::Real(Some(f)) if f.is_finite() => number(FLOAT, format_args!("{f:e}"), out),
        Val::Bool(true) => out.push(TRUE),
        Val::Bool(false) => out.push(FALSE),
        Val::Blob(_) => return false,
        Val::Text(None) | Val::Int(None) | Val::Real(_) => out.push(NULL),
    }
    true
}

/// How many values a wide row holds per inner array.
pub(crate) const GROUP: usize = 6;

/// The `->>` operand that reads column `i` of a row of `n` values as [`rows`] encodes it:
/// the index itself, or the path `'$[group][place]'` in a wide row.
pub(crate) fn column_path(n: usize, i: usize) -> String {
    if n > GROUP {
        format!("'$[{}][{}]'", i / GROUP, i % GROUP)
    } else {
        i.to_string()
    }
}

/// Rows encoded for a SQLite write statement: each row one JSONB array of its values in
/// column order (a row of more than [`GROUP`] values as an array of arrays of `GROUP`, so
/// that reading a value skips a few elements, not all before it; see [`column_path`]), the
/// rows back to back in `rows`; `spans` a JSONB array with one INT per row
/// saying where it sits, `offset << 32 | length` (the statement cuts each row out with
/// `substr` and reads its values with `->>`, so no text is parsed and no row is searched for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Encoded {
    /// The rows, each a complete JSONB array.
    pub rows: Vec<u8>,
    /// One `offset << 32 | length` per row, as a JSONB array.
    pub spans: Vec<u8>,
}

/// Encodes rows for a SQLite write statement (see [`Encoded`]).
///
/// # Errors
/// [`StoreError::InvalidBatch`] naming `table` when a row holds a blob (no table has a blob
/// column) or the rows take 2 GiB or more (a statement carries at most a few thousand rows).
pub(crate) fn rows<const N: usize>(table: &str, rows: &[[Val<'_>; N]]) -> Result<Encoded, StoreError> {
    let mut out = Vec::with_capacity(rows.len() * 16 * N);
    let mut spans = Vec::with_capacity(rows.len() * 12);
    let mut row = Vec::with_capacity(32 * N);
    let mut group = Vec::with_capacity(32 * GROUP);
    for (r, values) in rows.iter().enumerate() {
        row.clear();
        for (g, chunk) in values.chunks(if N > GROUP { GROUP } else { N.max(1) }).enumerate() {
            let into = if N > GROUP { &mut group } else { &mut row };
            into.clear();
            for (k, v) in chunk.iter().enumerate() {
                if !push_value(into, v) {
                    let c = g * GROUP + k;
                    return Err(StoreError::InvalidBatch(format!(
                        "{table}: row {r}, column {c} holds a blob, which no column stores"
                    )));
                }
            }
            if N > GROUP {
                push_element(&mut row, ARRAY, &group);
            }
        }
        let offset = out.len();
        push_element(&mut out, ARRAY, &row);
        // Both the offset and the length are below 2^31 when the end is.
        let span = i64::try_from(out.len())
            .ok()
            .filter(|end| *end < 1 << 31)
            .map(|end| ((offset as i64) << 32) | (end - offset as i64))
            .ok_or_else(|| StoreError::InvalidBatch(format!("{table}: {} rows take 2 GiB or more", rows.len())))?;
        push_value(&mut spans, &Val::Int(Some(span)));
    }
    Ok(Encoded { rows: out, spans: array(&spans) })
}

/// A JSONB array whose elements are `payload`.
fn array(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + MAX_HEADER);
    push_element(&mut out, ARRAY, payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::TestCaseError;
    use sqlx::{Connection, Row, SqliteConnection};
    use std::borrow::Cow;

    fn val() -> impl Strategy<Value = Val<'static>> {
        prop_oneof![
            any::<Option<String>>().prop_map(|s| Val::Text(s.map(Cow::Owned))),
            // Short and long strings cross the 1-, 2- and 4-byte size headers.
            (0usize..70_000).prop_map(|n| Val::Text(Some(Cow::Owned("é\"\\\n\u{0}x".repeat(n / 7))))),
            any::<Option<i64>>().prop_map(Val::Int),
            prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(0), Just(-1)].prop_map(|i| Val::Int(Some(i))),
            // The one REAL column holds an LLM's confidence in [0, 1]; and any double.
            (0.0..=1.0f64).prop_map(|f| Val::Real(Some(f))),
            any::<Option<f64>>().prop_map(Val::Real),
            any::<bool>().prop_map(Val::Bool),
        ]
    }

    /// What SQLite reads back through `->>` from the rows the write statements cut out of
    /// the encoding: (type name, text of the value) per column, per row in order.
    async fn read_back<const N: usize>(
        conn: &mut SqliteConnection,
        rows: &[[Val<'_>; N]],
    ) -> Vec<Vec<(String, Option<String>, Option<f64>)>> {
        let e = super::rows("t", rows).unwrap();
        let [head, mid] = crate::store::sqlite::ROWS_SQL;
        // The path of column `c.i`, as `column_path` writes it into the statements.
        let at = if N > GROUP {
            format!("('$[' || (c.i / {GROUP}) || '][' || (c.i % {GROUP}) || ']')")
        } else {
            "c.i".into()
        };
        let sql = format!(
            "{head}?1{mid}?2)), n (r, v) AS (SELECT row_number() OVER (), v FROM r), \
             c (i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i + 1 < ?3) \
             SELECT n.r, typeof(v ->> {at}), CAST(v ->> {at} AS TEXT), \
                    CASE WHEN typeof(v ->> {at}) = 'real' THEN v ->> {at} END FROM n, c ORDER BY n.r, c.i"
        );
        let got = sqlx::query(&sql)
            .bind(&e.rows)
            .bind(&e.spans)
            .bind(i64::try_from(N).unwrap())
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        let mut out = vec![Vec::new(); rows.len()];
        for row in got {
            let r: i64 = row.get(0);
            out[usize::try_from(r - 1).unwrap()].push((row.get(1), row.get(2), row.get(3)));
        }
        out
    }

    /// What binding the value itself reads back as.
    fn expected(v: &Val<'_>) -> (String, Option<String>) {
        match v {
            Val::Text(Some(s)) => ("text".into(), Some(s.to_string())),
            Val::Int(Some(i)) => ("integer".into(), Some(i.to_string())),
            Val::Real(Some(f)) if f.is_finite() => ("real".into(), Some(format!("{f:e}"))),
            Val::Bool(b) => ("integer".into(), Some(u8::from(*b).to_string())),
            Val::Blob(_) | Val::Text(None) | Val::Int(None) | Val::Real(_) => ("null".into(), None),
        }
    }

    #[test]
    fn a_blob_in_a_row_is_refused_with_its_place() {
        let rows = [[Val::Int(Some(1)), Val::Blob(vec![1, 2])]];
        let err = super::rows("fills", &rows).unwrap_err().to_string();
        assert!(err.contains("fills: row 0, column 1 holds a blob"), "{err}");
    }

    #[test]
    fn headers_are_the_shortest_that_hold_the_size() {
        let sizes = [(0, 1), (11, 1), (12, 2), (255, 2), (256, 3), (65_535, 3), (65_536, 5)];
        for (size, len) in sizes {
            let mut out = Vec::new();
            push_header(&mut out, TEXTRAW, size);
            assert_eq!(out.len(), len, "size {size}");
            assert_eq!(out[0] & 0x0f, TEXTRAW);
        }
        let mut out = Vec::new();
        push_header(&mut out, ARRAY, 300);
        assert_eq!(out, [0xdb, 0x01, 0x2c]);
    }

    #[tokio::test]
    async fn sqlite_renders_each_row_as_the_same_json() {
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        let rows = [
            [Val::Text(Some(Cow::Borrowed("a\"b"))), Val::Int(Some(-7)), Val::Bool(true), Val::Text(None)],
            [Val::Text(Some(Cow::Borrowed(""))), Val::Int(Some(0)), Val::Bool(false), Val::Real(Some(0.25))],
        ];
        let e = super::rows("t", &rows).unwrap();
        let [head, mid] = crate::store::sqlite::ROWS_SQL;
        let json: Vec<String> = sqlx::query_scalar(&format!("{head}?1{mid}?2)) SELECT json(v) FROM r"))
            .bind(&e.rows)
            .bind(&e.spans)
            .fetch_all(&mut conn)
            .await
            .unwrap();
        assert_eq!(json, [r#"["a\"b",-7,true,null]"#, r#"["",0,false,2.5e-1]"#]);
        let spans: String = sqlx::query_scalar("SELECT json(?)").bind(&e.spans).fetch_one(&mut conn).await.unwrap();
        // Row 0: a 1-byte header and 9 payload bytes at 0; row 1: 1 + 11 bytes at 10.
        assert_eq!(spans, format!("[10,{}]", (10_i64 << 32) | 12));
    }

    /// Every value of `rows` reads back through `->>` with its type and value.
    fn check<const N: usize>(rows: &[[Val<'_>; N]]) -> Result<(), TestCaseError> {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let got = rt.block_on(async {
            let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
            let e = super::rows("t", rows).unwrap();
            let [head, mid] = crate::store::sqlite::ROWS_SQL;
            let sql = format!("{head}?1{mid}?2)) SELECT count(*) FROM r WHERE json_valid(v, 8)");
            let valid: i64 = sqlx::query_scalar(&sql).bind(&e.rows).bind(&e.spans).fetch_one(&mut conn).await.unwrap();
            prop_assert_eq!(valid, i64::try_from(rows.len()).unwrap(), "SQLite's strict JSONB check refuses a row");
            Ok(read_back(&mut conn, rows).await)
        })?;
        prop_assert_eq!(got.len(), rows.len());
        for (r, row) in rows.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                let (ty, text, real) = &got[r][c];
                let (want_ty, want) = expected(v);
                prop_assert_eq!(ty, &want_ty, "row {} column {}", r, c);
                match v {
                    // Compare doubles as numbers (SQLite's text rendering may round them),
                    // within one unit in the last place: SQLite turns the shortest decimal
                    // back into a double with its own conversion (as it did for the JSON
                    // text before), which is not always correctly rounded.
                    Val::Real(Some(f)) if f.is_finite() => {
                        let back = real.unwrap_or(f64::NAN);
                        let ulps = back.to_bits().abs_diff(f.to_bits());
                        prop_assert!(ulps <= 1, "row {} column {}: {} read back as {}", r, c, f, back);
                    }
                    _ => prop_assert_eq!(text, &want, "row {} column {}", r, c),
                }
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        /// Narrow rows: every value reads back through `->>` with its type and value, in
        /// any row count and size (headers of every width).
        #[test]
        fn values_read_back_exactly(rows in prop::collection::vec([val(), val(), val()], 0..40)) {
            check(&rows)?;
        }

        /// Wide rows (arrays of groups of values): the same, through the group paths.
        #[test]
        fn values_of_wide_rows_read_back(rows in prop::collection::vec(prop::array::uniform14(val()), 0..6)) {
            check(&rows)?;
        }
    }
}
