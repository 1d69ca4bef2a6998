//! [`ObjectReader`]: one object streamed out of a store in chunks, on either backend.

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use super::s3::body_error;
use super::StoreError;

/// Streams one object out of a store in chunks.
pub struct ObjectReader {
    url: String,
    inner: Inner,
}

enum Inner {
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

impl ObjectReader {
    pub(crate) fn file(url: String, f: tokio::fs::File) -> ObjectReader {
        ObjectReader {
            url,
            inner: Inner::File(f),
        }
    }

    pub(crate) fn s3(url: String, body: ByteStream) -> ObjectReader {
        ObjectReader {
            url,
            inner: Inner::S3(body),
        }
    }

    /// The next chunk, or `None` at the end of the object.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, StoreError> {
        match &mut self.inner {
            Inner::File(f) => {
                use tokio::io::AsyncReadExt;
                let mut buf = bytes::BytesMut::with_capacity(1 << 20);
                let n = f.read_buf(&mut buf).await.map_err(|e| StoreError::Io {
                    op: "read",
                    key: self.url.clone(),
                    reason: e.to_string(),
                })?;
                Ok((n > 0).then(|| buf.freeze()))
            }
            Inner::S3(body) => match body.next().await {
                None => Ok(None),
                Some(Ok(b)) => Ok(Some(b)),
                Some(Err(e)) => Err(body_error(&self.url, e)),
            },
        }
    }
}
