//! Recycled export buffers and zstd compression contexts, shared by all workers of the process:
//! allocated afresh per batch and per object and freed on another thread, they were kept by
//! glibc's per-thread arenas, so peak RSS grew with the number of objects.

use std::sync::Mutex;

use zstd::zstd_safe::CCtx;

use super::BATCH;

/// Capacity of a pooled buffer: a batch plus room for the last message or zstd block that
/// crosses the batch boundary, so a buffer rarely has to grow.
const BUF_CAP: usize = BATCH + (64 << 10);
/// More than the buffers in flight at `--jobs 8` (two channels of CHANNEL_DEPTH plus the ones in
/// hand per worker); beyond this, returned buffers are freed.
const POOL_MAX: usize = 96;

/// Free things of one kind, shared by all workers of the process, at most `max` kept.
struct Pool<T> {
    free: Mutex<Vec<T>>,
    max: usize,
}

impl<T> Pool<T> {
    const fn new(max: usize) -> Self {
        Pool {
            free: Mutex::new(Vec::new()),
            max,
        }
    }

    fn take(&self) -> Option<T> {
        self.free.lock().map(|mut p| p.pop()).unwrap_or(None)
    }

    fn give(&self, item: T) {
        if let Ok(mut free) = self.free.lock() {
            if free.len() < self.max {
                free.push(item);
            }
        }
    }
}

/// Free export buffers.
static BUFFERS: Pool<Vec<u8>> = Pool::new(POOL_MAX);
/// Free zstd compression contexts (one per concurrently compressed object).
static CONTEXTS: Pool<CCtx<'static>> = Pool::new(16);

pub(super) fn take_cctx() -> CCtx<'static> {
    let mut cctx = CONTEXTS.take().unwrap_or_else(CCtx::create);
    // A context given back mid-frame (an upload that stopped) must not start the next object
    // with stale data. `with_context` resets too, in zstd >= 0.13.4; this does not depend on it.
    // Resetting the session only cannot fail.
    let _ = cctx.reset(zstd::zstd_safe::ResetDirective::SessionOnly);
    cctx
}

/// An empty buffer with at least `BUF_CAP` capacity, recycled when one is free.
pub(super) fn take_buf() -> Vec<u8> {
    BUFFERS
        .take()
        .unwrap_or_else(|| Vec::with_capacity(BUF_CAP))
}

/// Returns a buffer to the pool. Buffers a huge row made grow (a multi-MB TOASTed value) are
/// freed instead, so the pool never pins more than `POOL_MAX * 4 * BUF_CAP`.
pub(super) fn give_buf(mut buf: Vec<u8>) {
    if !poolable(buf.capacity()) {
        return;
    }
    buf.clear();
    BUFFERS.give(buf);
}

fn poolable(capacity: usize) -> bool {
    (BUF_CAP..=4 * BUF_CAP).contains(&capacity)
}

/// Returns a context; one left mid-frame by an error is reset when it is taken again.
pub(super) fn give_cctx(cctx: CCtx<'static>) {
    CONTEXTS.give(cctx);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_keeps_batch_sized_buffers_only() {
        assert!(take_buf().capacity() >= BUF_CAP);
        assert!(poolable(BUF_CAP) && poolable(2 * BUF_CAP) && poolable(4 * BUF_CAP));
        // A small buffer would make the next batch grow; a huge one would pin memory.
        assert!(!poolable(BATCH / 2) && !poolable(4 * BUF_CAP + 1));
    }
}
