//! Backup stores: where backup sets and reports live. `file:///dir` or `s3://bucket/prefix`.
//!
//! Objects are written once and never overwritten or deleted by the drill: a put to an existing
//! key is refused (S3: `If-None-Match: *`). On S3 every object carries an SDK checksum, and when
//! an Object Lock retention is asked for it is set on each object explicitly, because default
//! bucket retention is not applied everywhere (moto never applies it to multipart uploads).

use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ObjectLockMode};
use aws_smithy_types::error::display::DisplayErrorContext;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use drill_core::{Classified, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid store URL {url:?}: {reason} (expected s3://bucket/prefix or file:///dir)")]
    InvalidUrl { url: String, reason: String },
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
            StoreError::InvalidUrl { .. } => ErrorKind::InvalidInput,
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

/// A backup store rooted at a URL.
#[derive(Debug, Clone)]
pub enum Store {
    File {
        root: PathBuf,
    },
    S3 {
        client: aws_sdk_s3::Client,
        bucket: String,
        /// Key prefix without leading or trailing `/` (may be empty).
        prefix: String,
    },
}

type HttpResponse = aws_sdk_s3::config::http::HttpResponse;

/// Message and whether it is worth retrying (timeouts, dispatch failures, 5xx, throttling).
pub fn s3_reason<E: std::error::Error + 'static>(
    err: &aws_sdk_s3::error::SdkError<E, HttpResponse>,
) -> (String, bool) {
    use aws_sdk_s3::error::SdkError;
    let transient = matches!(
        err,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_)
    ) || err
        .raw_response()
        .map(|r| r.status().as_u16() >= 500 || r.status().as_u16() == 429)
        .unwrap_or(false);
    (DisplayErrorContext(err).to_string(), transient)
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
            Ok(Store::S3 {
                client: client.clone(),
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
            })
        } else if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(bad("file:// URLs need an absolute path (file:///dir)"));
            }
            Ok(Store::File {
                root: PathBuf::from(path),
            })
        } else {
            Err(bad("unknown scheme"))
        }
    }

    /// The URL of a key in this store.
    pub fn url_of(&self, key: &str) -> String {
        match self {
            Store::File { root } => format!("file://{}", root.join(key).display()),
            Store::S3 { bucket, .. } => format!("s3://{bucket}/{}", self.full_key(key)),
        }
    }

    /// A store rooted below `sub` (a backup set inside a source's store).
    pub fn child(&self, sub: &str) -> Store {
        let sub = sub.trim_matches('/');
        match self {
            Store::File { root } => Store::File {
                root: root.join(sub),
            },
            Store::S3 {
                client,
                bucket,
                prefix,
            } => Store::S3 {
                client: client.clone(),
                bucket: bucket.clone(),
                prefix: if prefix.is_empty() {
                    sub.to_owned()
                } else {
                    format!("{prefix}/{sub}")
                },
            },
        }
    }

    fn full_key(&self, key: &str) -> String {
        match self {
            Store::S3 { prefix, .. } if !prefix.is_empty() => format!("{prefix}/{key}"),
            _ => key.to_owned(),
        }
    }

    fn path(root: &Path, key: &str) -> PathBuf {
        root.join(key)
    }

    /// Writes a whole object once; refuses to overwrite.
    pub async fn put(
        &self,
        key: &str,
        body: Bytes,
        retention: Option<&Retention>,
    ) -> Result<(), StoreError> {
        match self {
            Store::File { root } => {
                let path = Self::path(root, key);
                let io = |e: std::io::Error| StoreError::Io {
                    op: "write",
                    key: path.display().to_string(),
                    reason: e.to_string(),
                };
                if let Some(dir) = path.parent() {
                    tokio::fs::create_dir_all(dir).await.map_err(io)?;
                }
                // Write to a temporary name and link into place: readers never see half an
                // object, and an existing object is never replaced.
                let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
                tokio::fs::write(&tmp, &body).await.map_err(io)?;
                let linked = tokio::fs::hard_link(&tmp, &path).await;
                let _ = tokio::fs::remove_file(&tmp).await;
                match linked {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Err(StoreError::AlreadyExists(self.url_of(key)))
                    }
                    Err(e) => Err(io(e)),
                }
            }
            Store::S3 { client, bucket, .. } => {
                let full = self.full_key(key);
                let mut req = client
                    .put_object()
                    .bucket(bucket)
                    .key(&full)
                    .if_none_match("*")
                    .checksum_algorithm(ChecksumAlgorithm::Sha256)
                    .body(ByteStream::from(body));
                if let Some(r) = retention {
                    req = req
                        .object_lock_mode(ObjectLockMode::from(r.mode.as_str()))
                        .object_lock_retain_until_date(aws_smithy_types::DateTime::from_secs(
                            r.until.timestamp(),
                        ));
                }
                req.send().await.map_err(|e| {
                    if e.raw_response().map(|r| r.status().as_u16()) == Some(412) {
                        return StoreError::AlreadyExists(self.url_of(key));
                    }
                    let (reason, transient) = s3_reason(&e);
                    StoreError::S3 {
                        op: "PutObject",
                        key: self.url_of(key),
                        reason,
                        transient,
                    }
                })?;
                Ok(())
            }
        }
    }

    /// Reads a whole object (manifests, reports: small objects).
    pub async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        match self {
            Store::File { root } => {
                let path = Self::path(root, key);
                match tokio::fs::read(&path).await {
                    Ok(b) => Ok(Bytes::from(b)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        Err(StoreError::NotFound(self.url_of(key)))
                    }
                    Err(e) => Err(StoreError::Io {
                        op: "read",
                        key: path.display().to_string(),
                        reason: e.to_string(),
                    }),
                }
            }
            Store::S3 { client, bucket, .. } => {
                let out = client
                    .get_object()
                    .bucket(bucket)
                    .key(self.full_key(key))
                    .send()
                    .await
                    .map_err(|e| {
                        if e.as_service_error().is_some_and(|s| s.is_no_such_key()) {
                            return StoreError::NotFound(self.url_of(key));
                        }
                        let (reason, transient) = s3_reason(&e);
                        StoreError::S3 {
                            op: "GetObject",
                            key: self.url_of(key),
                            reason,
                            transient,
                        }
                    })?;
                let data = out.body.collect().await.map_err(|e| StoreError::S3 {
                    op: "GetObject",
                    key: self.url_of(key),
                    reason: e.to_string(),
                    transient: true,
                })?;
                Ok(data.into_bytes())
            }
        }
    }

    /// Keys (relative to the store root) starting with `prefix`, sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        match self {
            Store::File { root } => {
                let mut stack = vec![root.clone()];
                while let Some(dir) = stack.pop() {
                    let mut rd = match tokio::fs::read_dir(&dir).await {
                        Ok(rd) => rd,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => {
                            return Err(StoreError::Io {
                                op: "list",
                                key: dir.display().to_string(),
                                reason: e.to_string(),
                            })
                        }
                    };
                    while let Ok(Some(entry)) = rd.next_entry().await {
                        let path = entry.path();
                        if path.is_dir() {
                            stack.push(path);
                        } else if let Ok(rel) = path.strip_prefix(root) {
                            let rel = rel.to_string_lossy().into_owned();
                            if rel.starts_with(prefix) && !rel.contains(".tmp-") {
                                keys.push(rel);
                            }
                        }
                    }
                }
            }
            Store::S3 {
                client,
                bucket,
                prefix: root,
            } => {
                let strip = if root.is_empty() {
                    String::new()
                } else {
                    format!("{root}/")
                };
                let mut pages = client
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(self.full_key(prefix))
                    .into_paginator()
                    .send();
                while let Some(page) = pages.next().await {
                    let page = page.map_err(|e| {
                        let (reason, transient) = s3_reason(&e);
                        StoreError::S3 {
                            op: "ListObjectsV2",
                            key: self.url_of(prefix),
                            reason,
                            transient,
                        }
                    })?;
                    for obj in page.contents() {
                        if let Some(k) = obj.key() {
                            keys.push(k.strip_prefix(&strip).unwrap_or(k).to_owned());
                        }
                    }
                }
            }
        }
        keys.sort();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        assert!(matches!(
            Store::open("file:///tmp/x", None).unwrap(),
            Store::File { .. }
        ));
        for bad in ["file://relative", "http://x", "s3://", "/tmp/x"] {
            let err = Store::open(bad, None).unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
        }
    }

    #[tokio::test]
    async fn file_store_writes_once_and_lists() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().display());
        let store = Store::open(&url, None).unwrap().child("src/set-1");
        store.put("a/b.bin", Bytes::from_static(b"hi"), None).await.unwrap();
        let again = store.put("a/b.bin", Bytes::from_static(b"other"), None).await;
        assert!(matches!(again, Err(StoreError::AlreadyExists(_))), "{again:?}");
        assert_eq!(&store.get("a/b.bin").await.unwrap()[..], b"hi");
        assert_eq!(store.list("").await.unwrap(), vec!["a/b.bin".to_owned()]);
        assert!(matches!(
            store.get("missing").await,
            Err(StoreError::NotFound(_))
        ));
    }
}
