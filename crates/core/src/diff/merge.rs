//! The merge of two sorted row streams: the pure heart of the diff.
//!
//! The engine streams, per table, `(key, row hash)` ordered by key from both sides (or bare row
//! hashes ordered by hash for a table without a primary key) and feeds them here as iterators.
//! One pass, constant memory: only the current row of each side and a few samples are held.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// One part of a row's key, as the engine fetched it. Integer keys compare as numbers; every
/// other type as its text form byte by byte, which is exactly how the server orders
/// `col::text COLLATE "C"` — so the merge and `ORDER BY` agree whatever the database collation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyPart {
    Int(i64),
    Text(String),
}

impl std::fmt::Display for KeyPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyPart::Int(i) => write!(f, "{i}"),
            KeyPart::Text(t) => write!(f, "{t}"),
        }
    }
}

/// A keyed row: its primary key and the hash of its other columns' text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedRow {
    pub key: Vec<KeyPart>,
    pub hash: i64,
}

/// How many sample keys of each kind a table diff keeps for people to look at.
pub const SAMPLES: usize = 5;

/// What the merge of one table found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowCounts {
    pub base_rows: u64,
    pub sandbox_rows: u64,
    pub inserted: u64,
    pub deleted: u64,
    pub updated: u64,
    /// A few keys (`(1, 'a')`) of inserted, deleted and updated rows; empty without a key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sample_inserted: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sample_deleted: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sample_updated: Vec<String>,
}

impl RowCounts {
    pub fn changed(&self) -> bool {
        self.inserted + self.deleted + self.updated > 0
    }
}

fn show_key(key: &[KeyPart]) -> String {
    let parts: Vec<String> = key.iter().map(ToString::to_string).collect();
    if parts.len() == 1 {
        parts.into_iter().next().unwrap_or_default()
    } else {
        format!("({})", parts.join(", "))
    }
}

fn sample(list: &mut Vec<String>, key: &[KeyPart]) {
    if list.len() < SAMPLES {
        list.push(show_key(key));
    }
}

/// Merges two key-ordered streams. A key out of order on either side is an error (it would make
/// every later count wrong), named with the side.
pub fn merge_keyed(
    base: impl IntoIterator<Item = KeyedRow>,
    sandbox: impl IntoIterator<Item = KeyedRow>,
) -> Result<RowCounts, MergeError> {
    let mut c = RowCounts::default();
    let mut base = Ordered::new(base.into_iter(), "base");
    let mut sandbox = Ordered::new(sandbox.into_iter(), "sandbox");
    let (mut b, mut s) = (base.next()?, sandbox.next()?);
    loop {
        let order = match (&b, &s) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(x), Some(y)) => x.key.cmp(&y.key),
        };
        match order {
            Ordering::Less => {
                let row = b.take().unwrap_or_else(|| unreachable!());
                c.base_rows += 1;
                c.deleted += 1;
                sample(&mut c.sample_deleted, &row.key);
                b = base.next()?;
            }
            Ordering::Greater => {
                let row = s.take().unwrap_or_else(|| unreachable!());
                c.sandbox_rows += 1;
                c.inserted += 1;
                sample(&mut c.sample_inserted, &row.key);
                s = sandbox.next()?;
            }
            Ordering::Equal => {
                let (x, y) = (
                    b.take().unwrap_or_else(|| unreachable!()),
                    s.take().unwrap_or_else(|| unreachable!()),
                );
                c.base_rows += 1;
                c.sandbox_rows += 1;
                if x.hash != y.hash {
                    c.updated += 1;
                    sample(&mut c.sample_updated, &x.key);
                }
                b = base.next()?;
                s = sandbox.next()?;
            }
        }
    }
    Ok(c)
}

/// Merges two hash-ordered streams of a table without a key as multisets: equal hashes pair
/// off, the surplus of a hash on one side counts as deleted (base) or inserted (sandbox). An
/// update shows as one of each: without a key nothing says which row became which.
pub fn merge_multiset(
    base: impl IntoIterator<Item = i64>,
    sandbox: impl IntoIterator<Item = i64>,
) -> Result<RowCounts, MergeError> {
    let mut c = RowCounts::default();
    let wrap = |h: i64| KeyedRow {
        key: vec![KeyPart::Int(h)],
        hash: 0,
    };
    let mut base = Ordered::new(base.into_iter().map(wrap), "base").allowing_repeats();
    let mut sandbox = Ordered::new(sandbox.into_iter().map(wrap), "sandbox").allowing_repeats();
    let (mut b, mut s) = (base.next()?, sandbox.next()?);
    loop {
        let order = match (&b, &s) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(x), Some(y)) => x.key.cmp(&y.key),
        };
        if order != Ordering::Greater {
            c.base_rows += 1;
            b = base.next()?;
        }
        if order != Ordering::Less {
            c.sandbox_rows += 1;
            s = sandbox.next()?;
        }
        match order {
            Ordering::Less => c.deleted += 1,
            Ordering::Greater => c.inserted += 1,
            Ordering::Equal => {}
        }
    }
    Ok(c)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {side} rows did not arrive in key order ({previous} then {next}): the two sides' ORDER BY disagree")]
pub struct MergeError {
    pub side: &'static str,
    pub previous: String,
    pub next: String,
}

/// An iterator that checks its keys strictly increase (a key twice would be a broken primary
/// key or a broken ORDER BY; both would miscount).
struct Ordered<I> {
    inner: I,
    last: Option<Vec<KeyPart>>,
    side: &'static str,
    strict: bool,
}

impl<I: Iterator<Item = KeyedRow>> Ordered<I> {
    fn new(inner: I, side: &'static str) -> Self {
        Ordered {
            inner,
            last: None,
            side,
            strict: true,
        }
    }

    fn next(&mut self) -> Result<Option<KeyedRow>, MergeError> {
        let Some(row) = self.inner.next() else {
            return Ok(None);
        };
        if let Some(last) = &self.last {
            let bad = match row.key.cmp(last) {
                Ordering::Less => true,
                Ordering::Equal => self.strict,
                Ordering::Greater => false,
            };
            if bad {
                return Err(MergeError {
                    side: self.side,
                    previous: show_key(last),
                    next: show_key(&row.key),
                });
            }
        }
        self.last = Some(row.key.clone());
        Ok(Some(row))
    }

    /// Hashes of a table without a key may repeat (duplicate rows); keys may not.
    fn allowing_repeats(mut self) -> Self {
        self.strict = false;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, hash: i64) -> KeyedRow {
        KeyedRow {
            key: vec![KeyPart::Int(id)],
            hash,
        }
    }

    #[test]
    fn inserts_deletes_and_updates_are_counted_by_key() {
        let base = vec![row(1, 10), row(2, 20), row(3, 30), row(5, 50)];
        let sandbox = vec![row(2, 20), row(3, 31), row(4, 40), row(5, 50), row(6, 60)];
        let c = merge_keyed(base, sandbox).unwrap();
        assert_eq!((c.base_rows, c.sandbox_rows), (4, 5));
        assert_eq!((c.inserted, c.deleted, c.updated), (2, 1, 1));
        assert_eq!(c.sample_deleted, ["1"]);
        assert_eq!(c.sample_updated, ["3"]);
        assert_eq!(c.sample_inserted, ["4", "6"]);
    }

    #[test]
    fn composite_keys_compare_part_by_part_and_text_by_bytes() {
        let k = |a: i64, b: &str, h| KeyedRow {
            key: vec![KeyPart::Int(a), KeyPart::Text(b.into())],
            hash: h,
        };
        // Byte order: "B" < "a" < "b" (C collation), whatever a locale would say.
        let base = vec![k(1, "B", 1), k(1, "a", 2), k(2, "a", 3)];
        let sandbox = vec![k(1, "B", 1), k(1, "b", 2), k(2, "a", 4)];
        let c = merge_keyed(base, sandbox).unwrap();
        assert_eq!((c.inserted, c.deleted, c.updated), (1, 1, 1));
        assert_eq!(c.sample_deleted, ["(1, a)"]);
        assert_eq!(c.sample_inserted, ["(1, b)"]);
    }

    #[test]
    fn unordered_input_is_an_error_not_a_wrong_count() {
        let err = merge_keyed(vec![row(2, 0), row(1, 0)], vec![]).unwrap_err();
        assert_eq!(err.side, "base");
        assert_eq!((err.previous.as_str(), err.next.as_str()), ("2", "1"));
        let err = merge_keyed(vec![], vec![row(1, 0), row(1, 1)]).unwrap_err();
        assert_eq!(err.side, "sandbox", "a repeated key is out of order too");
        let err = merge_multiset(vec![], vec![5, 3]).unwrap_err();
        assert_eq!(err.side, "sandbox");
    }

    #[test]
    fn multisets_count_duplicates() {
        // Base has hash 7 three times, sandbox twice; hash 9 only in the sandbox.
        let c = merge_multiset(vec![1, 7, 7, 7], vec![1, 7, 7, 9, 9]).unwrap();
        assert_eq!((c.base_rows, c.sandbox_rows), (4, 5));
        assert_eq!((c.inserted, c.deleted, c.updated), (2, 1, 0));
        let same = merge_multiset(vec![3, 3], vec![3, 3]).unwrap();
        assert!(!same.changed());
    }

    #[test]
    fn empty_sides() {
        let c = merge_keyed(vec![row(1, 1), row(2, 2)], vec![]).unwrap();
        assert_eq!((c.deleted, c.sandbox_rows), (2, 0));
        let c = merge_keyed(vec![], vec![]).unwrap();
        assert_eq!(c, RowCounts::default());
    }
}
