//! The S3 side of [`super::ObjectWriter`]: buffers parts of [`PART_SIZE`]; an object that fits in
//! one part is a single PUT, a larger one a multipart upload with one part in flight while the
//! next fills. Aborted when dropped unfinished, so no parts linger.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ObjectLockMode,
};
use aws_smithy_types::error::display::DisplayErrorContext;
use bytes::BytesMut;
use tokio::task::JoinHandle;

use super::s3::{is_precondition_failed, retain_until, s3_error, S3Store};
use super::writer::PART_SIZE;
use super::{Backend, Retention, StoreError};

type PartUpload = JoinHandle<Result<CompletedPart, StoreError>>;

pub(crate) struct S3Writer {
    store: S3Store,
    key: String,
    /// The key in the bucket, and the object's URL for errors.
    full: String,
    url: String,
    retention: Option<Retention>,
    buf: BytesMut,
    /// Set by CreateMultipartUpload, on the first full part.
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
    inflight: Option<PartUpload>,
    /// Finished or aborted: nothing left for `Drop` to clean up.
    done: bool,
}

impl S3Writer {
    pub(crate) fn new(store: S3Store, key: &str, retention: Option<Retention>) -> S3Writer {
        S3Writer {
            full: store.full_key(key),
            url: store.url_of(key),
            store,
            key: key.to_owned(),
            retention,
            buf: BytesMut::with_capacity(PART_SIZE),
            upload_id: None,
            parts: Vec::new(),
            inflight: None,
            done: false,
        }
    }

    pub(crate) async fn write(&mut self, mut data: &[u8]) -> Result<(), StoreError> {
        while !data.is_empty() {
            let take = (PART_SIZE - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == PART_SIZE {
                self.send_part().await?;
            }
        }
        Ok(())
    }

    /// Makes the object visible; `written` is its size. Fails if the key already exists.
    pub(crate) async fn finish(mut self, written: u64) -> Result<(), StoreError> {
        if self.upload_id.is_none() {
            // Small object: one PUT (also the only way moto applies default retention).
            self.done = true;
            let body = self.buf.split().freeze();
            return self
                .store
                .put(&self.key, body, self.retention.as_ref())
                .await;
        }
        // The retention came with CreateMultipartUpload; S3 applies it on completion (the
        // export role may not change retention afterwards: no s3:PutObjectRetention).
        let result = self.complete(written).await;
        if result.is_err() {
            self.abort().await;
        }
        self.done = true;
        result
    }

    /// Discards what was uploaded; nothing becomes visible.
    pub(crate) async fn abort(&mut self) {
        if let Some(h) = self.inflight.take() {
            h.abort();
        }
        if let Some(id) = &self.upload_id {
            let _ = self
                .store
                .client
                .abort_multipart_upload()
                .bucket(&self.store.bucket)
                .key(&self.full)
                .upload_id(id)
                .send()
                .await;
        }
        self.done = true;
    }

    /// Starts the multipart upload, with the retention, so every part is under it.
    async fn create(&mut self) -> Result<String, StoreError> {
        let mut req = self
            .store
            .client
            .create_multipart_upload()
            .bucket(&self.store.bucket)
            .key(&self.full)
            .checksum_algorithm(ChecksumAlgorithm::Sha256);
        if let Some(r) = &self.retention {
            req = req
                .object_lock_mode(ObjectLockMode::from(r.mode.as_str()))
                .object_lock_retain_until_date(retain_until(r));
        }
        let out = req
            .send()
            .await
            .map_err(|e| s3_error("CreateMultipartUpload", &self.url, &e))?;
        Ok(out.upload_id().unwrap_or_default().to_owned())
    }

    /// Waits for the part in flight, if any, and records it.
    async fn join_inflight(&mut self) -> Result<(), StoreError> {
        if let Some(handle) = self.inflight.take() {
            let part = handle.await.map_err(|e| StoreError::S3 {
                op: "UploadPart",
                key: self.url.clone(),
                reason: format!("upload task failed: {e}"),
                transient: false,
            })??;
            self.parts.push(part);
        }
        Ok(())
    }

    /// Uploads the buffered part (starting the multipart upload on the first one), after the
    /// previous part has finished: at most one part is in flight per writer.
    async fn send_part(&mut self) -> Result<(), StoreError> {
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let id = self.create().await?;
                self.upload_id = Some(id.clone());
                id
            }
        };
        self.join_inflight().await?;
        let number = self.parts.len() as i32 + 1;
        let req = self
            .store
            .client
            .upload_part()
            .bucket(&self.store.bucket)
            .key(&self.full)
            .upload_id(upload_id)
            .part_number(number)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .body(ByteStream::from(self.buf.split().freeze()));
        let url = self.url.clone();
        self.inflight = Some(tokio::spawn(async move {
            let out = req
                .send()
                .await
                .map_err(|e| s3_error("UploadPart", &url, &e))?;
            Ok(CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag().map(str::to_owned))
                .set_checksum_sha256(out.checksum_sha256().map(str::to_owned))
                .build())
        }));
        self.buf = BytesMut::with_capacity(PART_SIZE);
        Ok(())
    }

    /// Uploads the last part and completes the upload, write-once (`If-None-Match: *`).
    async fn complete(&mut self, written: u64) -> Result<(), StoreError> {
        if !self.buf.is_empty() {
            self.send_part().await?;
        }
        self.join_inflight().await?;
        let part_count = self.parts.len();
        let upload = CompletedMultipartUpload::builder()
            .set_parts(Some(std::mem::take(&mut self.parts)))
            .build();
        let completed = self
            .store
            .client
            .complete_multipart_upload()
            .bucket(&self.store.bucket)
            .key(&self.full)
            .upload_id(self.upload_id.clone().unwrap_or_default())
            .multipart_upload(upload)
            .if_none_match("*")
            .send()
            .await;
        let e = match completed {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if is_precondition_failed(&e) {
            return Err(StoreError::AlreadyExists(self.url.clone()));
        }
        if self.completed_anyway(written, part_count).await {
            tracing::warn!(key = self.url, error = %DisplayErrorContext(&e), "CompleteMultipartUpload answer unreadable; the object is complete");
            return Ok(());
        }
        Err(s3_error("CompleteMultipartUpload", &self.url, &e))
    }

    /// The answer to CompleteMultipartUpload can be lost or unreadable although the upload
    /// completed (a timeout; an emulator answering with another XML root). The key is new and
    /// ours alone, so an object there with our size and part count is this upload.
    async fn completed_anyway(&self, written: u64, part_count: usize) -> bool {
        let head = self
            .store
            .client
            .head_object()
            .bucket(&self.store.bucket)
            .key(&self.full)
            .send()
            .await;
        let parts_suffix = format!("-{part_count}\"");
        head.is_ok_and(|h| {
            h.content_length() == Some(written as i64)
                && h.e_tag().is_some_and(|t| t.ends_with(&parts_suffix))
        })
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Dropped mid-upload (an error elsewhere): abort so no parts linger.
        if let Some(h) = self.inflight.take() {
            h.abort();
        }
        if let (Some(id), Ok(rt)) = (&self.upload_id, tokio::runtime::Handle::try_current()) {
            let req = self
                .store
                .client
                .abort_multipart_upload()
                .bucket(&self.store.bucket)
                .key(&self.full)
                .upload_id(id);
            rt.spawn(async move {
                let _ = req.send().await;
            });
        }
    }
}
