//! Verification of what a restore reads against the manifest: each object's size, hash, decoded
//! size and rows, and each table's loaded row count.

use super::{ObjectEntry, TableEntry};

/// What was actually read from an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub sha256: String,
    pub compressed_bytes: u64,
    pub raw_bytes: u64,
    /// Rows counted in the decoded stream, for data objects.
    pub rows: Option<u64>,
}

/// An object whose bytes are not what the manifest says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("object {key}: {what}")]
pub struct Mismatch {
    pub key: String,
    pub what: String,
}

/// Compares an object as read against its manifest entry. The size is compared first (a
/// truncated object says "truncated"), then the hash, then the decoded size and row count.
pub fn verify_object(expected: &ObjectEntry, seen: &Observed) -> Result<(), Mismatch> {
    let fail = |what: String| {
        Err(Mismatch {
            key: expected.key.clone(),
            what,
        })
    };
    if seen.compressed_bytes != expected.compressed_bytes {
        let how = if seen.compressed_bytes < expected.compressed_bytes {
            "truncated"
        } else {
            "too long"
        };
        return fail(format!(
            "{how}: {} bytes stored, manifest says {}",
            seen.compressed_bytes, expected.compressed_bytes
        ));
    }
    if seen.sha256 != expected.sha256 {
        return fail(format!(
            "sha256 mismatch: stored object hashes to {}, manifest says {}",
            seen.sha256, expected.sha256
        ));
    }
    if seen.raw_bytes != expected.raw_bytes {
        return fail(format!(
            "decoded size {} differs from manifest {}",
            seen.raw_bytes, expected.raw_bytes
        ));
    }
    if let (Some(want), Some(got)) = (expected.rows, seen.rows) {
        if want != got {
            return fail(format!("holds {got} rows, manifest says {want}"));
        }
    }
    Ok(())
}

/// Compares the rows the server loaded for a table with the manifest.
pub fn verify_table_rows(table: &TableEntry, loaded: u64) -> Result<(), Mismatch> {
    if loaded == table.rows {
        Ok(())
    } else {
        Err(Mismatch {
            key: table
                .objects
                .first()
                .map(|o| o.key.clone())
                .unwrap_or_default(),
            what: format!(
                "table {} loaded {loaded} rows, manifest says {}",
                table.display_name(),
                table.rows
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::tests::{manifest, obj};

    #[test]
    fn object_verification_names_the_object_and_the_difference() {
        let want = obj("data/x.0000.copy.zst", Some(3));
        let good = Observed {
            sha256: want.sha256.clone(),
            compressed_bytes: 5,
            raw_bytes: 10,
            rows: Some(3),
        };
        assert_eq!(verify_object(&want, &good), Ok(()));
        let cases = [
            (
                Observed {
                    compressed_bytes: 4,
                    ..good.clone()
                },
                "truncated",
            ),
            (
                Observed {
                    sha256: "b".repeat(64),
                    ..good.clone()
                },
                "sha256 mismatch",
            ),
            (
                Observed {
                    raw_bytes: 11,
                    ..good.clone()
                },
                "decoded size",
            ),
            (
                Observed {
                    rows: Some(2),
                    ..good.clone()
                },
                "2 rows",
            ),
        ];
        for (seen, needle) in cases {
            let err = verify_object(&want, &seen).unwrap_err();
            assert_eq!(err.key, want.key);
            assert!(err.to_string().contains(needle), "{err}");
            assert!(err.to_string().contains("data/x.0000.copy.zst"), "{err}");
        }
    }

    #[test]
    fn table_rows_are_verified() {
        let m = manifest();
        assert!(verify_table_rows(&m.tables[0], 7).is_ok());
        let err = verify_table_rows(&m.tables[0], 6).unwrap_err().to_string();
        assert!(err.contains("public.t") && err.contains("6"), "{err}");
    }
}
