//! The two streaming pipelines, with bounded memory and the CPU work off the async threads:
//!
//! export: COPY TO STDOUT → batches (1 MiB) → zstd + sha256 + row count (blocking thread) →
//!         store writer (S3 multipart, one 8 MiB part in flight);
//! restore: store reader → sha256 + zstd decode + row count (blocking thread) → COPY FROM STDIN,
//!          committed only when the object's hash, sizes and rows match the manifest.
//!
//! Channels hold at most a few batches, so memory per worker stays at a few MiB plus the part
//! buffers, whatever the table size. Export batch buffers and zstd compression contexts are
//! recycled through small pools: allocated afresh per batch and per object (about 1 MiB each)
//! and freed on another thread, they were kept by glibc's per-thread arenas and peak RSS grew
//! with the number of objects (scale 100 took 1.2-1.45x the RSS of scale 20).

use std::io::{Read, Write};

use bytes::Bytes;
use drill_core::manifest::{ObjectEntry, Observed};
use futures_util::{SinkExt, StreamExt};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_postgres::Client;
use zstd::zstd_safe::{CCtx, CParameter};

mod pool;

use super::count_rows;
use crate::pg::error_text;
use crate::store::{ObjectReader, ObjectWriter, StoreError};
use pool::{give_buf, give_cctx, take_buf, take_cctx};

/// Bytes of COPY output per batch handed to the compressor.
pub(super) const BATCH: usize = 256 << 10;
const CHANNEL_DEPTH: usize = 4;
/// Export channels hold 2 batches: still double-buffered, and the memory bound (about 7 MiB per
/// worker) is reached early, so peak RSS does not creep up with longer exports.
const EXPORT_DEPTH: usize = 2;
/// zstd level 1: the fastest level that still shrinks real data well; higher levels make
/// compression, not PostgreSQL, the bottleneck.
const ZSTD_LEVEL: i32 = 1;

/// What one exported object turned out to be.
#[derive(Debug, Clone)]
pub(crate) struct Produced {
    pub raw_bytes: u64,
    pub compressed_bytes: u64,
    pub sha256: String,
    pub rows: u64,
}

/// Why an export pipeline stopped.
#[derive(Debug)]
pub(crate) enum PipeError {
    Pg(String),
    Store(StoreError),
    Other(String),
}

fn compress_loop(
    rx: mpsc::Receiver<Vec<u8>>,
    tx: mpsc::Sender<Vec<u8>>,
) -> Result<Produced, PipeError> {
    let mut cctx = take_cctx();
    let result = compress_with(&mut cctx, rx, tx);
    give_cctx(cctx);
    result
}

fn compress_with(
    cctx: &mut CCtx<'static>,
    mut rx: mpsc::Receiver<Vec<u8>>,
    tx: mpsc::Sender<Vec<u8>>,
) -> Result<Produced, PipeError> {
    let io = |e: std::io::Error| PipeError::Other(format!("zstd: {e}"));
    let mut enc = zstd::stream::write::Encoder::with_context(take_buf(), cctx);
    enc.set_parameter(CParameter::CompressionLevel(ZSTD_LEVEL))
        .map_err(io)?;
    // The frame checksum lets any zstd tool detect a corrupt object even without our manifest.
    enc.include_checksum(true).map_err(io)?;
    let mut sha = Sha256::new();
    let (mut raw, mut compressed, mut rows) = (0u64, 0u64, 0u64);
    let mut emit = |out: Vec<u8>, sha: &mut Sha256| -> Result<(), PipeError> {
        sha.update(&out);
        compressed += out.len() as u64;
        tx.blocking_send(out)
            .map_err(|_| PipeError::Other("upload stopped".into()))
    };
    while let Some(batch) = rx.blocking_recv() {
        raw += batch.len() as u64;
        rows += count_rows(&batch);
        enc.write_all(&batch).map_err(io)?;
        give_buf(batch);
        if enc.get_ref().len() >= BATCH {
            let out = std::mem::replace(enc.get_mut(), take_buf());
            emit(out, &mut sha)?;
        }
    }
    let out = enc.finish().map_err(io)?;
    if !out.is_empty() {
        emit(out, &mut sha)?;
    }
    Ok(Produced {
        raw_bytes: raw,
        compressed_bytes: compressed,
        sha256: hex::encode(sha.finalize()),
        rows,
    })
}

/// Runs `copy_sql` (a `COPY ... TO STDOUT`) and streams it, compressed, into `writer`; finishes
/// the writer (the object appears) only when everything succeeded.
pub(crate) async fn copy_out_to_store(
    client: &Client,
    copy_sql: &str,
    mut writer: ObjectWriter,
) -> Result<Produced, PipeError> {
    let stream = client
        .copy_out(copy_sql)
        .await
        .map_err(|e| PipeError::Pg(error_text(&e)))?;
    futures_util::pin_mut!(stream);
    let (raw_tx, raw_rx) = mpsc::channel::<Vec<u8>>(EXPORT_DEPTH);
    let (z_tx, mut z_rx) = mpsc::channel::<Vec<u8>>(EXPORT_DEPTH);
    let compressor = tokio::task::spawn_blocking(move || compress_loop(raw_rx, z_tx));
    let uploader = tokio::spawn(async move {
        while let Some(chunk) = z_rx.recv().await {
            let written = writer.write(&chunk).await;
            give_buf(chunk);
            if let Err(e) = written {
                writer.abort().await;
                return Err(e);
            }
        }
        Ok(writer)
    });

    let mut read_err = None;
    let mut batch = take_buf();
    while let Some(msg) = stream.next().await {
        match msg {
            Ok(data) => {
                batch.extend_from_slice(&data);
                if batch.len() >= BATCH {
                    let full = std::mem::replace(&mut batch, take_buf());
                    if raw_tx.send(full).await.is_err() {
                        break; // the compressor or the uploader failed; its error is reported
                    }
                }
            }
            Err(e) => {
                read_err = Some(error_text(&e));
                break;
            }
        }
    }
    if read_err.is_none() && !batch.is_empty() {
        let _ = raw_tx.send(batch).await;
    } else {
        give_buf(batch);
    }
    drop(raw_tx);
    let compressed = compressor
        .await
        .map_err(|e| PipeError::Other(format!("compression task: {e}")))?;
    let uploaded = uploader
        .await
        .map_err(|e| PipeError::Other(format!("upload task: {e}")))?;
    // The first cause wins: a failed read or upload also makes the compressor fail.
    if let Some(e) = read_err {
        if let Ok(w) = uploaded {
            w.abort().await;
        }
        return Err(PipeError::Pg(e));
    }
    let writer = uploaded.map_err(PipeError::Store)?;
    let produced = match compressed {
        Ok(p) => p,
        Err(e) => {
            writer.abort().await;
            return Err(e);
        }
    };
    writer.finish().await.map_err(PipeError::Store)?;
    Ok(produced)
}

/// A `Read` over chunks arriving on a channel, hashing and counting every byte it hands out.
struct ChannelReader {
    rx: mpsc::Receiver<Bytes>,
    current: Bytes,
    sha: Sha256,
    bytes: u64,
}

impl ChannelReader {
    fn fill(&mut self) -> bool {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => {
                    self.sha.update(&b);
                    self.bytes += b.len() as u64;
                    self.current = b;
                }
                None => return false,
            }
        }
        true
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() || !self.fill() {
            return Ok(0);
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// Decodes on a blocking thread. Returns what was observed, and the decode error if any: the
/// whole input is always consumed so the hash covers every stored byte (a corrupt object is
/// reported as a hash mismatch, which says more than a zstd error).
fn decompress_loop(
    rx: mpsc::Receiver<Bytes>,
    tx: mpsc::Sender<Bytes>,
) -> (Observed, Option<String>) {
    let mut reader = ChannelReader {
        rx,
        current: Bytes::new(),
        sha: Sha256::new(),
        bytes: 0,
    };
    let (mut raw, mut rows) = (0u64, 0u64);
    let mut failure = None;
    match zstd::stream::read::Decoder::new(&mut reader) {
        Err(e) => failure = Some(format!("zstd: {e}")),
        Ok(mut dec) => loop {
            let mut buf = vec![0u8; BATCH];
            let mut filled = 0;
            let mut eof = false;
            while filled < buf.len() {
                match dec.read(&mut buf[filled..]) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => filled += n,
                    Err(e) => {
                        failure = Some(format!("cannot decode zstd data: {e}"));
                        eof = true;
                        break;
                    }
                }
            }
            buf.truncate(filled);
            raw += filled as u64;
            rows += count_rows(&buf);
            if failure.is_none() && !buf.is_empty() && tx.blocking_send(Bytes::from(buf)).is_err() {
                failure = Some("loading stopped".into());
            }
            if eof || failure.is_some() {
                break;
            }
        },
    }
    drop(tx);
    // Consume whatever is left (trailing bytes, or the rest after a decode error).
    let mut sink = [0u8; 64 * 1024];
    while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
    let observed = Observed {
        sha256: hex::encode(reader.sha.clone().finalize()),
        compressed_bytes: reader.bytes,
        raw_bytes: raw,
        rows: Some(rows),
    };
    (observed, failure)
}

/// Why loading one object failed.
#[derive(Debug)]
pub(crate) enum LoadError {
    /// The stored bytes are not what the manifest says.
    Mismatch(drill_core::manifest::Mismatch),
    /// Unreadable although the hash matched (a bad export), or a store read error.
    Corrupt(String),
    Store(StoreError),
    /// The server refused the data.
    Server(String),
}

/// Loads one data object with `copy_sql` (a `COPY ... FROM STDIN`) inside a transaction that is
/// committed only after the object verified: a corrupt object never leaves rows behind.
pub(crate) async fn load_object(
    client: &Client,
    copy_sql: &str,
    mut reader: ObjectReader,
    expected: &ObjectEntry,
) -> Result<u64, LoadError> {
    let server = |e: tokio_postgres::Error| LoadError::Server(error_text(&e));
    let (in_tx, in_rx) = mpsc::channel::<Bytes>(CHANNEL_DEPTH);
    let (out_tx, mut out_rx) = mpsc::channel::<Bytes>(CHANNEL_DEPTH);
    let fetch = tokio::spawn(async move {
        while let Some(chunk) = reader.next_chunk().await? {
            if in_tx.send(chunk).await.is_err() {
                break;
            }
        }
        Ok::<(), StoreError>(())
    });
    let decoder = tokio::task::spawn_blocking(move || decompress_loop(in_rx, out_tx));

    client.batch_execute("BEGIN").await.map_err(server)?;
    let result = async {
        let sink = client.copy_in(copy_sql).await.map_err(server)?;
        futures_util::pin_mut!(sink);
        let mut send_err = None;
        while let Some(b) = out_rx.recv().await {
            if let Err(e) = sink.send(b).await {
                send_err = Some(error_text(&e));
                break;
            }
        }
        drop(out_rx);
        let fetched = fetch
            .await
            .map_err(|e| LoadError::Corrupt(format!("read task: {e}")))?;
        let (observed, decode_failure) = decoder
            .await
            .map_err(|e| LoadError::Corrupt(format!("decode task: {e}")))?;
        fetched.map_err(LoadError::Store)?;
        // Dropping the sink without finishing it aborts the COPY (CopyFail).
        drill_core::manifest::verify_object(expected, &observed).map_err(LoadError::Mismatch)?;
        if let Some(f) = decode_failure {
            return Err(match send_err {
                Some(s) if f == "loading stopped" => LoadError::Server(s),
                _ => LoadError::Corrupt(f),
            });
        }
        if let Some(s) = send_err {
            return Err(LoadError::Server(s));
        }
        let rows = sink.as_mut().finish().await.map_err(server)?;
        if expected.rows.is_some_and(|want| want != rows) {
            return Err(LoadError::Mismatch(drill_core::manifest::Mismatch {
                key: expected.key.clone(),
                what: format!(
                    "server loaded {rows} rows, manifest says {}",
                    expected.rows.unwrap_or_default()
                ),
            }));
        }
        Ok(rows)
    }
    .await;
    match result {
        Ok(rows) => {
            client.batch_execute("COMMIT").await.map_err(server)?;
            Ok(rows)
        }
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn compress_then_decompress_round_trips_and_hashes_the_stored_bytes() {
        let (raw_tx, raw_rx) = mpsc::channel(4);
        let (z_tx, mut z_rx) = mpsc::channel(4);
        let comp = tokio::task::spawn_blocking(move || compress_loop(raw_rx, z_tx));
        let collect = tokio::spawn(async move {
            let mut all = Vec::new();
            while let Some(b) = z_rx.recv().await {
                all.extend_from_slice(&b);
            }
            all
        });
        let rows: Vec<u8> = (0..50_000)
            .flat_map(|i| format!("{i}\tvalue {i}\\n escaped\n").into_bytes())
            .collect();
        for c in rows.chunks(300_000) {
            raw_tx.send(c.to_vec()).await.unwrap();
        }
        drop(raw_tx);
        let produced = comp.await.unwrap().unwrap();
        let stored = collect.await.unwrap();
        assert_eq!(produced.rows, 50_000);
        assert_eq!(produced.raw_bytes, rows.len() as u64);
        assert_eq!(produced.compressed_bytes, stored.len() as u64);
        assert_eq!(produced.sha256, hex::encode(Sha256::digest(&stored)));

        let decode = |bytes: Vec<u8>| async move {
            let (in_tx, in_rx) = mpsc::channel(4);
            let (out_tx, mut out_rx) = mpsc::channel(4);
            let dec = tokio::task::spawn_blocking(move || decompress_loop(in_rx, out_tx));
            let sender = tokio::spawn(async move {
                for c in bytes.chunks(7_000) {
                    in_tx.send(Bytes::copy_from_slice(c)).await.unwrap();
                }
            });
            let mut out = Vec::new();
            while let Some(b) = out_rx.recv().await {
                out.extend_from_slice(&b);
            }
            sender.await.unwrap();
            let (obs, failure) = dec.await.unwrap();
            (out, obs, failure)
        };
        let (out, obs, failure) = decode(stored.clone()).await;
        assert_eq!(failure, None);
        assert_eq!(out, rows);
        assert_eq!(obs.sha256, produced.sha256);
        assert_eq!(obs.rows, Some(50_000));

        // A flipped byte: the hash covers all stored bytes even though decoding stops early.
        let mut bad = stored.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x55;
        let (_, obs, _) = decode(bad).await;
        assert_eq!(obs.compressed_bytes, stored.len() as u64);
        assert_ne!(obs.sha256, produced.sha256);
    }
}
