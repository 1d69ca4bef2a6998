//! [`ObjectWriter`]: one object streamed into a store without holding it whole, on either
//! backend (`file.rs`'s temporary file, `multipart.rs`'s S3 upload).

use super::file::FileWriter;
use super::multipart::S3Writer;
use super::StoreError;

/// Size of one multipart upload part. S3 needs >= 5 MiB for every part but the last; 8 MiB keeps
/// memory per writer at about two parts (one filling, one uploading).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// Streams one object into a store without holding it whole: a file written under a temporary
/// name and linked into place on [`ObjectWriter::finish`], or an S3 upload (a single PUT when the
/// object fits in one part, else a multipart upload with one part in flight while the next fills).
/// Write-once like [`super::Store::put`]; dropped unfinished, nothing becomes visible.
pub struct ObjectWriter {
    key: String,
    written: u64,
    inner: Inner,
}

enum Inner {
    File(FileWriter),
    S3(S3Writer),
}

impl std::fmt::Debug for ObjectWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectWriter")
            .field("key", &self.key)
            .field("written", &self.written)
            .finish()
    }
}

impl ObjectWriter {
    pub(crate) fn file(key: &str, w: FileWriter) -> ObjectWriter {
        ObjectWriter::with(key, Inner::File(w))
    }

    pub(crate) fn s3(key: &str, w: S3Writer) -> ObjectWriter {
        ObjectWriter::with(key, Inner::S3(w))
    }

    fn with(key: &str, inner: Inner) -> ObjectWriter {
        ObjectWriter {
            key: key.to_owned(),
            written: 0,
            inner,
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// Bytes accepted so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    pub async fn write(&mut self, data: &[u8]) -> Result<(), StoreError> {
        self.written += data.len() as u64;
        match &mut self.inner {
            Inner::File(w) => w.write(data).await,
            Inner::S3(w) => w.write(data).await,
        }
    }

    /// Makes the object visible; returns its size. Fails if the key already exists.
    pub async fn finish(self) -> Result<u64, StoreError> {
        match self.inner {
            Inner::File(w) => w.finish().await?,
            Inner::S3(w) => w.finish(self.written).await?,
        }
        Ok(self.written)
    }

    /// Discards what was written; nothing becomes visible.
    pub async fn abort(self) {
        match self.inner {
            Inner::File(w) => w.abort().await,
            Inner::S3(mut w) => w.abort().await,
        }
    }
}
