//! The `s3://bucket/prefix` backend: write-once through `If-None-Match: *`, an SDK SHA-256
//! checksum on every object, and the Object Lock retention set on each object explicitly.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ObjectLockMode};
use aws_smithy_types::error::display::DisplayErrorContext;
use bytes::Bytes;

use super::multipart::S3Writer;
use super::reader::ObjectReader;
use super::writer::ObjectWriter;
use super::{Backend, Retention, StoreError};

pub(crate) type HttpResponse = aws_sdk_s3::config::http::HttpResponse;
pub(crate) type SdkError<E> = aws_sdk_s3::error::SdkError<E, HttpResponse>;

/// Message and whether it is worth retrying (timeouts, dispatch failures, 5xx, throttling).
pub fn s3_reason<E: std::error::Error + 'static>(err: &SdkError<E>) -> (String, bool) {
    let transient = matches!(
        err,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_)
    ) || err
        .raw_response()
        .map(|r| r.status().as_u16() >= 500 || r.status().as_u16() == 429)
        .unwrap_or(false);
    (DisplayErrorContext(err).to_string(), transient)
}

/// A failed S3 call `op` on the object at `url`, keeping the SDK's context.
pub(crate) fn s3_error<E: std::error::Error + 'static>(
    op: &'static str,
    url: &str,
    err: &SdkError<E>,
) -> StoreError {
    let (reason, transient) = s3_reason(err);
    StoreError::S3 {
        op,
        key: url.to_owned(),
        reason,
        transient,
    }
}

/// Whether S3 refused a conditional write because the key exists (412 Precondition Failed).
pub(crate) fn is_precondition_failed<E>(err: &SdkError<E>) -> bool {
    err.raw_response().map(|r| r.status().as_u16()) == Some(412)
}

/// The retain-until date in the SDK's type.
pub(crate) fn retain_until(r: &Retention) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_secs(r.until.timestamp())
}

/// A failure while reading a body already started (the connection broke): worth retrying.
pub(crate) fn body_error(url: &str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::S3 {
        op: "GetObject",
        key: url.to_owned(),
        reason: reason.to_string(),
        transient: true,
    }
}

#[derive(Debug, Clone)]
pub(crate) struct S3Store {
    pub(crate) client: aws_sdk_s3::Client,
    pub(crate) bucket: String,
    /// Key prefix without leading or trailing `/` (may be empty).
    prefix: String,
}

impl S3Store {
    pub(crate) fn new(client: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> S3Store {
        S3Store {
            client: client.clone(),
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        }
    }

    /// The object key in the bucket of `key` relative to this store.
    pub(crate) fn full_key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    /// GetObject; a missing key is `NotFound`.
    async fn get_object(
        &self,
        key: &str,
    ) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput, StoreError> {
        let url = self.url_of(key);
        self.client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error().is_some_and(|s| s.is_no_such_key()) {
                    StoreError::NotFound(url.clone())
                } else {
                    s3_error("GetObject", &url, &e)
                }
            })
    }
}

impl Backend for S3Store {
    fn url_of(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.full_key(key))
    }

    fn child(&self, sub: &str) -> S3Store {
        S3Store {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            prefix: self.full_key(sub),
        }
    }

    async fn put(
        &self,
        key: &str,
        body: Bytes,
        retention: Option<&Retention>,
    ) -> Result<(), StoreError> {
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .if_none_match("*")
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .body(ByteStream::from(body));
        if let Some(r) = retention {
            req = req
                .object_lock_mode(ObjectLockMode::from(r.mode.as_str()))
                .object_lock_retain_until_date(retain_until(r));
        }
        req.send().await.map_err(|e| {
            if is_precondition_failed(&e) {
                StoreError::AlreadyExists(self.url_of(key))
            } else {
                s3_error("PutObject", &self.url_of(key), &e)
            }
        })?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let out = self.get_object(key).await?;
        let data = out
            .body
            .collect()
            .await
            .map_err(|e| body_error(&self.url_of(key), e))?;
        Ok(data.into_bytes())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let strip = self.full_key("");
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(self.full_key(prefix))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| s3_error("ListObjectsV2", &self.url_of(prefix), &e))?;
            for obj in page.contents() {
                if let Some(k) = obj.key() {
                    keys.push(k.strip_prefix(&strip).unwrap_or(k).to_owned());
                }
            }
        }
        Ok(keys)
    }

    async fn reader(&self, key: &str) -> Result<ObjectReader, StoreError> {
        let out = self.get_object(key).await?;
        Ok(ObjectReader::s3(self.url_of(key), out.body))
    }

    async fn writer(
        &self,
        key: &str,
        retention: Option<&Retention>,
    ) -> Result<ObjectWriter, StoreError> {
        let inner = S3Writer::new(self.clone(), key, retention.cloned());
        Ok(ObjectWriter::s3(key, inner))
    }
}
