//! The `file:///dir` backend: objects are files below a directory, written under a temporary
//! name and hard-linked into place, so readers never see half an object and an existing object
//! is never replaced.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::reader::ObjectReader;
use super::writer::ObjectWriter;
use super::{Backend, Retention, StoreError};

#[derive(Debug, Clone)]
pub(crate) struct FileStore {
    root: PathBuf,
}

/// An I/O failure on `path` during `op`.
fn io_error<'a>(op: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> StoreError + 'a {
    move |e| StoreError::Io {
        op,
        key: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// A sibling of `path` that listings skip and that is removed whatever happens.
fn temp_name(path: &Path) -> PathBuf {
    path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()))
}

/// Links the finished temporary file `tmp` to `path` (refusing an existing one), then removes
/// `tmp`. `url` names the object in the error.
async fn link_into_place(tmp: &Path, path: &Path, url: String) -> Result<(), StoreError> {
    let linked = tokio::fs::hard_link(tmp, path).await;
    let _ = tokio::fs::remove_file(tmp).await;
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(StoreError::AlreadyExists(url))
        }
        Err(e) => Err(io_error("write", path)(e)),
    }
}

impl FileStore {
    pub(crate) fn new(root: &str) -> FileStore {
        FileStore {
            root: PathBuf::from(root),
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    /// The path of `key`, its parent directories created.
    async fn prepare(&self, key: &str) -> Result<PathBuf, StoreError> {
        let path = self.path(key);
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(io_error("write", &path))?;
        }
        Ok(path)
    }
}

impl Backend for FileStore {
    fn url_of(&self, key: &str) -> String {
        format!("file://{}", self.path(key).display())
    }

    fn child(&self, sub: &str) -> FileStore {
        FileStore {
            root: self.root.join(sub),
        }
    }

    async fn put(
        &self,
        key: &str,
        body: Bytes,
        _retention: Option<&Retention>,
    ) -> Result<(), StoreError> {
        let path = self.prepare(key).await?;
        let tmp = temp_name(&path);
        tokio::fs::write(&tmp, &body)
            .await
            .map_err(io_error("write", &path))?;
        link_into_place(&tmp, &path, self.url_of(key)).await
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let path = self.path(key);
        match tokio::fs::read(&path).await {
            Ok(b) => Ok(Bytes::from(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::NotFound(self.url_of(key)))
            }
            Err(e) => Err(io_error("read", &path)(e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let mut rd = match tokio::fs::read_dir(&dir).await {
                Ok(rd) => rd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error("list", &dir)(e)),
            };
            while let Ok(Some(entry)) = rd.next_entry().await {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(rel) = path.strip_prefix(&self.root) {
                    let rel = rel.to_string_lossy().into_owned();
                    if rel.starts_with(prefix) && !rel.contains(".tmp-") {
                        keys.push(rel);
                    }
                }
            }
        }
        Ok(keys)
    }

    async fn reader(&self, key: &str) -> Result<ObjectReader, StoreError> {
        let path = self.path(key);
        match tokio::fs::File::open(&path).await {
            Ok(f) => Ok(ObjectReader::file(self.url_of(key), f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::NotFound(self.url_of(key)))
            }
            Err(e) => Err(io_error("read", &path)(e)),
        }
    }

    async fn writer(
        &self,
        key: &str,
        _retention: Option<&Retention>,
    ) -> Result<ObjectWriter, StoreError> {
        let path = self.prepare(key).await?;
        let url = self.url_of(key);
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Err(StoreError::AlreadyExists(url));
        }
        let tmp = temp_name(&path);
        let file = tokio::fs::File::create(&tmp)
            .await
            .map_err(io_error("write", &path))?;
        let inner = FileWriter {
            tmp,
            path,
            url,
            // Compressed chunks arrive in 1 MiB pieces, so a small buffer suffices; a 1 MiB
            // buffer per object was one more allocation per object for glibc to hold on to.
            file: Some(tokio::io::BufWriter::with_capacity(64 << 10, file)),
        };
        Ok(ObjectWriter::file(key, inner))
    }
}

/// A streaming write to a temporary file, linked into place on [`FileWriter::finish`]; removed
/// when aborted or dropped.
pub(crate) struct FileWriter {
    tmp: PathBuf,
    path: PathBuf,
    url: String,
    /// `None` once finished or aborted.
    file: Option<tokio::io::BufWriter<tokio::fs::File>>,
}

impl FileWriter {
    pub(crate) async fn write(&mut self, data: &[u8]) -> Result<(), StoreError> {
        use tokio::io::AsyncWriteExt;
        let f = self.file.as_mut().expect("file writer used after finish");
        f.write_all(data)
            .await
            .map_err(io_error("write", &self.tmp))
    }

    pub(crate) async fn finish(mut self) -> Result<(), StoreError> {
        use tokio::io::AsyncWriteExt;
        let io = io_error("write", &self.path);
        let mut f = self.file.take().expect("finish called once");
        f.flush().await.map_err(&io)?;
        // The data must be on disk before the object appears under its final name.
        f.get_mut().sync_all().await.map_err(&io)?;
        drop(f);
        link_into_place(&self.tmp, &self.path, std::mem::take(&mut self.url)).await
    }

    pub(crate) async fn abort(mut self) {
        self.file.take();
        let _ = tokio::fs::remove_file(&self.tmp).await;
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Store;
    use super::*;

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
        // An abandoned writer leaves nothing behind, and so does an aborted one.
        let mut w = store.writer("d/other", None).await.unwrap();
        w.write(b"x").await.unwrap();
        drop(w);
        let mut w = store.writer("d/aborted", None).await.unwrap();
        w.write(b"x").await.unwrap();
        w.abort().await;
        assert_eq!(store.list("").await.unwrap(), vec!["d/obj".to_owned()]);
        assert!(matches!(
            store.reader("d/none").await,
            Err(StoreError::NotFound(_))
        ));
    }
}
