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

/// A GetObject failure: a missing key is `NotFound`, the rest keeps the SDK's context.
fn get_object_error(
    url: &str,
    e: &aws_sdk_s3::error::SdkError<
        aws_sdk_s3::operation::get_object::GetObjectError,
        HttpResponse,
    >,
) -> StoreError {
    if e.as_service_error().is_some_and(|s| s.is_no_such_key()) {
        return StoreError::NotFound(url.to_owned());
    }
    let (reason, transient) = s3_reason(e);
    StoreError::S3 {
        op: "GetObject",
        key: url.to_owned(),
        reason,
        transient,
    }
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
                    .map_err(|e| get_object_error(&self.url_of(key), &e))?;
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

/// The S3 client type, for crates that hold one without depending on the SDK directly.
pub type S3Client = aws_sdk_s3::Client;

/// Size of one multipart upload part. S3 needs >= 5 MiB for every part but the last; 8 MiB keeps
/// memory per writer at about two parts (one filling, one uploading).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// Streams one object into a store without holding it whole: a file written under a temporary
/// name and linked into place on [`ObjectWriter::finish`], or an S3 upload (a single PUT when the
/// object fits in one part, else a multipart upload with one part in flight while the next fills).
/// Write-once like [`Store::put`]; dropped unfinished, nothing becomes visible.
pub struct ObjectWriter {
    store: Store,
    key: String,
    retention: Option<Retention>,
    written: u64,
    inner: WriterInner,
}

enum WriterInner {
    File {
        tmp: PathBuf,
        path: PathBuf,
        file: Option<tokio::io::BufWriter<tokio::fs::File>>,
    },
    S3 {
        buf: bytes::BytesMut,
        upload_id: Option<String>,
        parts: Vec<aws_sdk_s3::types::CompletedPart>,
        inflight:
            Option<tokio::task::JoinHandle<Result<aws_sdk_s3::types::CompletedPart, StoreError>>>,
        done: bool,
    },
}

impl std::fmt::Debug for ObjectWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectWriter")
            .field("key", &self.key)
            .field("written", &self.written)
            .finish()
    }
}

fn retain_until(r: &Retention) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_secs(r.until.timestamp())
}

impl Store {
    /// Starts a streaming write of `key`.
    pub async fn writer(
        &self,
        key: &str,
        retention: Option<&Retention>,
    ) -> Result<ObjectWriter, StoreError> {
        let inner = match self {
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
                if tokio::fs::try_exists(&path).await.unwrap_or(false) {
                    return Err(StoreError::AlreadyExists(self.url_of(key)));
                }
                let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
                let file = tokio::fs::File::create(&tmp).await.map_err(io)?;
                WriterInner::File {
                    tmp,
                    path,
                    // Compressed chunks arrive in 1 MiB pieces, so a small buffer suffices; a 1 MiB buffer per
                    // object was one more allocation per object for glibc to hold on to.
                    file: Some(tokio::io::BufWriter::with_capacity(64 << 10, file)),
                }
            }
            Store::S3 { .. } => WriterInner::S3 {
                buf: bytes::BytesMut::with_capacity(PART_SIZE),
                upload_id: None,
                parts: Vec::new(),
                inflight: None,
                done: false,
            },
        };
        Ok(ObjectWriter {
            store: self.clone(),
            key: key.to_owned(),
            retention: retention.cloned(),
            written: 0,
            inner,
        })
    }
}

impl ObjectWriter {
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Bytes accepted so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    fn s3_err<E: std::error::Error + 'static>(
        &self,
        op: &'static str,
        e: &aws_sdk_s3::error::SdkError<E, HttpResponse>,
    ) -> StoreError {
        let (reason, transient) = s3_reason(e);
        StoreError::S3 {
            op,
            key: self.store.url_of(&self.key),
            reason,
            transient,
        }
    }

    pub async fn write(&mut self, data: &[u8]) -> Result<(), StoreError> {
        self.written += data.len() as u64;
        match &mut self.inner {
            WriterInner::File { file, tmp, .. } => {
                use tokio::io::AsyncWriteExt;
                let f = file.as_mut().expect("file writer used after finish");
                f.write_all(data).await.map_err(|e| StoreError::Io {
                    op: "write",
                    key: tmp.display().to_string(),
                    reason: e.to_string(),
                })
            }
            WriterInner::S3 { .. } => {
                let mut rest = data;
                while !rest.is_empty() {
                    let WriterInner::S3 { buf, .. } = &mut self.inner else {
                        unreachable!()
                    };
                    let take = (PART_SIZE - buf.len()).min(rest.len());
                    buf.extend_from_slice(&rest[..take]);
                    rest = &rest[take..];
                    if buf.len() == PART_SIZE {
                        self.send_part().await?;
                    }
                }
                Ok(())
            }
        }
    }

    /// Uploads the buffered part (starting the multipart upload on the first one), after the
    /// previous part has finished: at most one part is in flight per writer.
    async fn send_part(&mut self) -> Result<(), StoreError> {
        let Store::S3 { client, bucket, .. } = &self.store else {
            unreachable!("S3 writer on a non-S3 store")
        };
        let (client, bucket) = (client.clone(), bucket.clone());
        let full = self.store.full_key(&self.key);
        let need_create = matches!(
            &self.inner,
            WriterInner::S3 {
                upload_id: None,
                ..
            }
        );
        if need_create {
            let mut req = client
                .create_multipart_upload()
                .bucket(&bucket)
                .key(&full)
                .checksum_algorithm(ChecksumAlgorithm::Sha256);
            if let Some(r) = &self.retention {
                req = req
                    .object_lock_mode(ObjectLockMode::from(r.mode.as_str()))
                    .object_lock_retain_until_date(retain_until(r));
            }
            let out = req
                .send()
                .await
                .map_err(|e| self.s3_err("CreateMultipartUpload", &e))?;
            let id = out.upload_id().unwrap_or_default().to_owned();
            if let WriterInner::S3 { upload_id, .. } = &mut self.inner {
                *upload_id = Some(id);
            }
        }
        let url = self.store.url_of(&self.key);
        let WriterInner::S3 {
            buf,
            upload_id,
            parts,
            inflight,
            ..
        } = &mut self.inner
        else {
            unreachable!()
        };
        if let Some(prev) = inflight.take() {
            parts.push(join_part(prev, &url).await?);
        }
        let body = buf.split().freeze();
        let number = parts.len() as i32 + 1;
        let upload_id = upload_id.clone().unwrap_or_default();
        *inflight = Some(tokio::spawn(async move {
            let out = client
                .upload_part()
                .bucket(&bucket)
                .key(&full)
                .upload_id(upload_id)
                .part_number(number)
                .checksum_algorithm(ChecksumAlgorithm::Sha256)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| {
                    let (reason, transient) = s3_reason(&e);
                    StoreError::S3 {
                        op: "UploadPart",
                        key: url,
                        reason,
                        transient,
                    }
                })?;
            Ok(aws_sdk_s3::types::CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag().map(str::to_owned))
                .set_checksum_sha256(out.checksum_sha256().map(str::to_owned))
                .build())
        }));
        *buf = bytes::BytesMut::with_capacity(PART_SIZE);
        Ok(())
    }

    /// Makes the object visible; returns its size. Fails if the key already exists.
    pub async fn finish(mut self) -> Result<u64, StoreError> {
        match &mut self.inner {
            WriterInner::File { tmp, path, file } => {
                use tokio::io::AsyncWriteExt;
                let io = |e: std::io::Error| StoreError::Io {
                    op: "write",
                    key: path.display().to_string(),
                    reason: e.to_string(),
                };
                let mut f = file.take().expect("finish called once");
                f.flush().await.map_err(io)?;
                // The data must be on disk before the object appears under its final name.
                f.get_mut().sync_all().await.map_err(io)?;
                drop(f);
                let linked = tokio::fs::hard_link(&*tmp, &*path).await;
                let _ = tokio::fs::remove_file(&*tmp).await;
                match linked {
                    Ok(()) => Ok(self.written),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Err(StoreError::AlreadyExists(self.store.url_of(&self.key)))
                    }
                    Err(e) => Err(io(e)),
                }
            }
            WriterInner::S3 { upload_id, buf, .. } => {
                if upload_id.is_none() {
                    // Small object: one PUT (also the only way moto applies default retention).
                    let body = buf.split().freeze();
                    if let WriterInner::S3 { done, .. } = &mut self.inner {
                        *done = true;
                    }
                    self.store
                        .put(&self.key, body, self.retention.as_ref())
                        .await?;
                    return Ok(self.written);
                }
                // The retention came with CreateMultipartUpload; S3 applies it on completion (the
                // export role may not change retention afterwards: no s3:PutObjectRetention).
                let result = self.complete_multipart().await;
                if result.is_err() {
                    self.abort_multipart().await;
                }
                if let WriterInner::S3 { done, .. } = &mut self.inner {
                    *done = true;
                }
                result.map(|()| self.written)
            }
        }
    }

    async fn complete_multipart(&mut self) -> Result<(), StoreError> {
        if matches!(&self.inner, WriterInner::S3 { buf, .. } if !buf.is_empty()) {
            self.send_part().await?;
        }
        let url = self.store.url_of(&self.key);
        let Store::S3 { client, bucket, .. } = &self.store else {
            unreachable!()
        };
        let full = self.store.full_key(&self.key);
        let WriterInner::S3 {
            upload_id,
            parts,
            inflight,
            ..
        } = &mut self.inner
        else {
            unreachable!()
        };
        if let Some(prev) = inflight.take() {
            parts.push(join_part(prev, &url).await?);
        }
        let part_count = parts.len();
        let upload = aws_sdk_s3::types::CompletedMultipartUpload::builder()
            .set_parts(Some(std::mem::take(parts)))
            .build();
        let completed = client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(&full)
            .upload_id(upload_id.clone().unwrap_or_default())
            .multipart_upload(upload)
            .if_none_match("*")
            .send()
            .await;
        let e = match completed {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if e.raw_response().map(|r| r.status().as_u16()) == Some(412) {
            return Err(StoreError::AlreadyExists(url.clone()));
        }
        // The answer can be lost or unreadable although the upload completed (a timeout; an
        // emulator answering with another XML root). The key is new and ours alone, so an object
        // there with our size and part count is this upload.
        let head = client.head_object().bucket(bucket).key(&full).send().await;
        if let Ok(h) = head {
            let parts_suffix = format!("-{part_count}\"");
            if h.content_length() == Some(self.written as i64)
                && h.e_tag().is_some_and(|t| t.ends_with(&parts_suffix))
            {
                tracing::warn!(key = url, error = %DisplayErrorContext(&e), "CompleteMultipartUpload answer unreadable; the object is complete");
                return Ok(());
            }
        }
        let (reason, transient) = s3_reason(&e);
        Err(StoreError::S3 {
            op: "CompleteMultipartUpload",
            key: url.clone(),
            reason,
            transient,
        })
    }

    async fn abort_multipart(&mut self) {
        let Store::S3 { client, bucket, .. } = &self.store else {
            return;
        };
        if let WriterInner::S3 {
            upload_id: Some(id),
            inflight,
            ..
        } = &mut self.inner
        {
            if let Some(h) = inflight.take() {
                h.abort();
            }
            let _ = client
                .abort_multipart_upload()
                .bucket(bucket)
                .key(self.store.full_key(&self.key))
                .upload_id(id.clone())
                .send()
                .await;
        }
    }

    /// Discards what was written; nothing becomes visible.
    pub async fn abort(mut self) {
        match &mut self.inner {
            WriterInner::File { tmp, file, .. } => {
                file.take();
                let _ = tokio::fs::remove_file(&*tmp).await;
            }
            WriterInner::S3 { .. } => {
                self.abort_multipart().await;
                if let WriterInner::S3 { done, .. } = &mut self.inner {
                    *done = true;
                }
            }
        }
    }
}

async fn join_part(
    handle: tokio::task::JoinHandle<Result<aws_sdk_s3::types::CompletedPart, StoreError>>,
    url: &str,
) -> Result<aws_sdk_s3::types::CompletedPart, StoreError> {
    handle.await.map_err(|e| StoreError::S3 {
        op: "UploadPart",
        key: url.to_owned(),
        reason: format!("upload task failed: {e}"),
        transient: false,
    })?
}

impl Drop for ObjectWriter {
    fn drop(&mut self) {
        match &mut self.inner {
            WriterInner::File { tmp, file, .. } => {
                if file.take().is_some() {
                    let _ = std::fs::remove_file(&*tmp);
                }
            }
            WriterInner::S3 {
                upload_id: Some(id),
                done: false,
                inflight,
                ..
            } => {
                // Dropped mid-upload (an error elsewhere): abort so no parts linger.
                if let Some(h) = inflight.take() {
                    h.abort();
                }
                if let (Store::S3 { client, bucket, .. }, Ok(rt)) =
                    (&self.store, tokio::runtime::Handle::try_current())
                {
                    let req = client
                        .abort_multipart_upload()
                        .bucket(bucket)
                        .key(self.store.full_key(&self.key))
                        .upload_id(id.clone());
                    rt.spawn(async move {
                        let _ = req.send().await;
                    });
                }
            }
            WriterInner::S3 { .. } => {}
        }
    }
}

/// Streams one object out of a store in chunks.
pub struct ObjectReader {
    url: String,
    inner: ReaderInner,
}

enum ReaderInner {
    File(tokio::fs::File),
    S3(ByteStream),
}

impl std::fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectReader")
            .field("url", &self.url)
            .finish()
    }
}

impl Store {
    /// Opens `key` for streaming reads; a missing object is [`StoreError::NotFound`].
    pub async fn reader(&self, key: &str) -> Result<ObjectReader, StoreError> {
        let url = self.url_of(key);
        let inner = match self {
            Store::File { root } => {
                let path = Self::path(root, key);
                match tokio::fs::File::open(&path).await {
                    Ok(f) => ReaderInner::File(f),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(StoreError::NotFound(url))
                    }
                    Err(e) => {
                        return Err(StoreError::Io {
                            op: "read",
                            key: path.display().to_string(),
                            reason: e.to_string(),
                        })
                    }
                }
            }
            Store::S3 { client, bucket, .. } => {
                let out = client
                    .get_object()
                    .bucket(bucket)
                    .key(self.full_key(key))
                    .send()
                    .await
                    .map_err(|e| get_object_error(&url, &e))?;
                ReaderInner::S3(out.body)
            }
        };
        Ok(ObjectReader { url, inner })
    }
}

impl ObjectReader {
    /// The next chunk, or `None` at the end of the object.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, StoreError> {
        match &mut self.inner {
            ReaderInner::File(f) => {
                use tokio::io::AsyncReadExt;
                let mut buf = bytes::BytesMut::with_capacity(1 << 20);
                let n = f.read_buf(&mut buf).await.map_err(|e| StoreError::Io {
                    op: "read",
                    key: self.url.clone(),
                    reason: e.to_string(),
                })?;
                Ok((n > 0).then(|| buf.freeze()))
            }
            ReaderInner::S3(body) => match body.next().await {
                None => Ok(None),
                Some(Ok(b)) => Ok(Some(b)),
                Some(Err(e)) => Err(StoreError::S3 {
                    op: "GetObject",
                    key: self.url.clone(),
                    reason: e.to_string(),
                    transient: true,
                }),
            },
        }
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
        store
            .put("a/b.bin", Bytes::from_static(b"hi"), None)
            .await
            .unwrap();
        let again = store
            .put("a/b.bin", Bytes::from_static(b"other"), None)
            .await;
        assert!(
            matches!(again, Err(StoreError::AlreadyExists(_))),
            "{again:?}"
        );
        assert_eq!(&store.get("a/b.bin").await.unwrap()[..], b"hi");
        assert_eq!(store.list("").await.unwrap(), vec!["a/b.bin".to_owned()]);
        assert!(matches!(
            store.get("missing").await,
            Err(StoreError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn file_writer_streams_and_stays_write_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("file://{}", dir.path().display()), None).unwrap();
        let mut w = store.writer("d/obj", None).await.unwrap();
        w.write(b"hello ").await.unwrap();
        w.write(b"world").await.unwrap();
        // Not visible until finished.
        assert!(store.list("").await.unwrap().is_empty());
        assert_eq!(w.finish().await.unwrap(), 11);
        let mut r = store.reader("d/obj").await.unwrap();
        let mut got = Vec::new();
        while let Some(c) = r.next_chunk().await.unwrap() {
            got.extend_from_slice(&c);
        }
        assert_eq!(got, b"hello world");
        assert!(matches!(
            store.writer("d/obj", None).await,
            Err(StoreError::AlreadyExists(_))
        ));
        // An abandoned writer leaves nothing behind.
        let mut w = store.writer("d/other", None).await.unwrap();
        w.write(b"x").await.unwrap();
        drop(w);
        assert_eq!(store.list("").await.unwrap(), vec!["d/obj".to_owned()]);
        assert!(matches!(
            store.reader("d/none").await,
            Err(StoreError::NotFound(_))
        ));
    }
}
