//! Backup stores: where backup sets and reports live. `file:///dir` or `s3://bucket/prefix`.
//!
//! Objects are written once and never overwritten or deleted by the drill: a put to an existing
//! key is refused (S3: `If-None-Match: *`). On S3 every object carries an SDK checksum, and when
//! an Object Lock retention is asked for it is set on each object explicitly, because default
//! bucket retention is not applied everywhere (moto never applies it to multipart uploads).
//!
//! Where each concern lives: [`Store`] (this file) opens a URL and hands every call to one of two
//! backends behind the crate-private [`Backend`] trait — `file.rs` (a directory) and `s3.rs`
//! (a bucket and prefix). Streaming writes are [`ObjectWriter`] (`writer.rs`), whose S3 side is
//! the multipart upload in `multipart.rs`; streaming reads are [`ObjectReader`] (`reader.rs`).

mod file;
mod multipart;
mod reader;
mod s3;
mod writer;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use drill_core::{Classified, ErrorKind};

pub use reader::ObjectReader;
pub use s3::s3_reason;
pub use writer::{ObjectWriter, PART_SIZE};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid store URL {url:?}: {reason} (expected s3://bucket/prefix or file:///dir)")]
    InvalidUrl { url: String, reason: String },
    #[error("invalid object lock retention: {0}")]
    InvalidRetention(String),
    #[error("object {0} already exists; backup objects are never overwritten")]
    AlreadyExists(String),
    #[error("object {0} not found")]
    NotFound(String),
    #[error("{op} {key}: {reason}")]
    Io {
        op: &'static str,
        key: String,
        reason: String,
    },
    #[error("{op} {key}: {reason}")]
    S3 {
        op: &'static str,
        key: String,
        reason: String,
        transient: bool,
    },
}

impl Classified for StoreError {
    fn kind(&self) -> ErrorKind {
        match self {
            StoreError::InvalidUrl { .. } | StoreError::InvalidRetention(_) => {
                ErrorKind::InvalidInput
            }
            StoreError::S3 {
                transient: true, ..
            } => ErrorKind::Transient,
            _ => ErrorKind::CouldNotRun,
        }
    }
}

/// Retention to put on every written object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// `COMPLIANCE` or `GOVERNANCE`.
    pub mode: String,
    pub until: DateTime<Utc>,
}

impl Retention {
    /// Retention of `days` from now. `mode` must be `COMPLIANCE` or `GOVERNANCE`.
    pub fn for_days(mode: &str, days: u32) -> Result<Retention, StoreError> {
        let mode = mode.to_ascii_uppercase();
        if mode != "COMPLIANCE" && mode != "GOVERNANCE" {
            return Err(StoreError::InvalidRetention(format!(
                "mode {mode:?} must be COMPLIANCE or GOVERNANCE"
            )));
        }
        if days == 0 || days > 36_500 {
            return Err(StoreError::InvalidRetention(format!(
                "{days} days: must be between 1 and 36500"
            )));
        }
        Ok(Retention {
            mode,
            until: Utc::now() + chrono::Duration::days(i64::from(days)),
        })
    }
}

/// The S3 client type, for crates that hold one without depending on the SDK directly.
pub type S3Client = aws_sdk_s3::Client;

/// What a backend does for [`Store`]; keys are relative to the backend's root. Crate-private, so
/// native `async fn` (static dispatch through [`Store`]'s enum) is enough.
pub(crate) trait Backend: Sized {
    /// The URL of a key.
    fn url_of(&self, key: &str) -> String;
    /// The same backend rooted below `sub` (already trimmed of `/`).
    fn child(&self, sub: &str) -> Self;
    /// Writes a whole object once; an existing key is [`StoreError::AlreadyExists`].
    async fn put(
        &self,
        key: &str,
        body: Bytes,
        retention: Option<&Retention>,
    ) -> Result<(), StoreError>;
    /// Reads a whole object; a missing key is [`StoreError::NotFound`].
    async fn get(&self, key: &str) -> Result<Bytes, StoreError>;
    /// Keys starting with `prefix`, in any order.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
    /// Opens `key` for streaming reads.
    async fn reader(&self, key: &str) -> Result<ObjectReader, StoreError>;
    /// Starts a streaming write of `key`.
    async fn writer(
        &self,
        key: &str,
        retention: Option<&Retention>,
    ) -> Result<ObjectWriter, StoreError>;
}

/// A backup store rooted at a URL.
#[derive(Debug, Clone)]
pub struct Store(Kind);

#[derive(Debug, Clone)]
enum Kind {
    File(file::FileStore),
    S3(s3::S3Store),
}

/// A backend call's future, boxed: one allocation per object-level call, and the futures of the
/// callers (the Lambda handlers) stay shallow enough for rustc's layout recursion limit, which
/// one more level of nested `async fn` per store call overflowed in the Lambda binaries.
type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Calls the same async [`Backend`] method on whichever backend this store is.
macro_rules! dispatch {
    ($store:expr, $b:ident => $call:expr) => {{
        let call: BoxFuture<'_, _> = match &$store.0 {
            Kind::File($b) => Box::pin($call),
            Kind::S3($b) => Box::pin($call),
        };
        call.await
    }};
}

impl Store {
    /// Opens a store URL. `s3` is needed only for `s3://` URLs.
    pub fn open(url: &str, s3: Option<&aws_sdk_s3::Client>) -> Result<Store, StoreError> {
        let bad = |reason: &str| StoreError::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("no bucket name"));
            }
            let client = s3.ok_or_else(|| bad("no S3 client configured"))?;
            Ok(Store(Kind::S3(s3::S3Store::new(client, bucket, prefix))))
        } else if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(bad("file:// URLs need an absolute path (file:///dir)"));
            }
            Ok(Store(Kind::File(file::FileStore::new(path))))
        } else {
            Err(bad("unknown scheme"))
        }
    }

    /// Whether this store is a bucket (`s3://`) rather than a directory.
    pub fn is_s3(&self) -> bool {
        matches!(self.0, Kind::S3(_))
    }

    /// The URL of a key in this store.
    pub fn url_of(&self, key: &str) -> String {
        match &self.0 {
            Kind::File(b) => b.url_of(key),
            Kind::S3(b) => b.url_of(key),
        }
    }

    /// A store rooted below `sub` (a backup set inside a source's store).
    pub fn child(&self, sub: &str) -> Store {
        let sub = sub.trim_matches('/');
        match &self.0 {
            Kind::File(b) => Store(Kind::File(b.child(sub))),
            Kind::S3(b) => Store(Kind::S3(b.child(sub))),
        }
    }

    /// Writes a whole object once; refuses to overwrite.
    pub async fn put(
        &self,
        key: &str,
        body: Bytes,
        retention: Option<&Retention>,
    ) -> Result<(), StoreError> {
        dispatch!(self, b => b.put(key, body, retention))
    }

    /// Reads a whole object (manifests, reports: small objects).
    pub async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        dispatch!(self, b => b.get(key))
    }

    /// Keys (relative to the store root) starting with `prefix`, sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = dispatch!(self, b => b.list(prefix))?;
        keys.sort();
        Ok(keys)
    }

    /// Opens `key` for streaming reads; a missing object is [`StoreError::NotFound`].
    pub async fn reader(&self, key: &str) -> Result<ObjectReader, StoreError> {
        dispatch!(self, b => b.reader(key))
    }

    /// Starts a streaming write of `key`; write-once like [`Store::put`].
    pub async fn writer(
        &self,
        key: &str,
        retention: Option<&Retention>,
    ) -> Result<ObjectWriter, StoreError> {
        dispatch!(self, b => b.writer(key, retention))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let file = Store::open("file:///tmp/x", None).unwrap();
        assert!(!file.is_s3());
        assert_eq!(file.child("/a/b/").url_of("k"), "file:///tmp/x/a/b/k");
        for bad in ["file://relative", "http://x", "s3://", "/tmp/x"] {
            let err = Store::open(bad, None).unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
        }
    }

    #[test]
    fn s3_urls_keep_bucket_and_prefix() {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .build();
        let client = aws_sdk_s3::Client::from_conf(conf);
        let root = Store::open("s3://bkt", Some(&client)).unwrap();
        assert!(root.is_s3());
        assert_eq!(root.url_of("k"), "s3://bkt/k");
        assert_eq!(root.child("src/").url_of("k"), "s3://bkt/src/k");
        let nested = Store::open("s3://bkt/p/q/", Some(&client)).unwrap();
        assert_eq!(nested.child("set").url_of("k"), "s3://bkt/p/q/set/k");
        assert_eq!(
            Store::open("s3://bkt", None).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }
}
