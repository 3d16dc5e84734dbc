//! A batch as JSON lines: made on the caller's task, then copied into one
//! buffer that the writer keeps from batch to batch.

use audit_core::{Batch, SinkError};
use bytes::Bytes;
use uuid::Uuid;

/// A batch ready to write, made on the caller's task: each entry's id and
/// JSON (without its newline). The pipeline's JSON is shared, not copied
/// (the writer copies it once, into its line buffer); only entries without
/// it are serialized here.
#[derive(Debug)]
pub(crate) struct Encoded {
    pub(crate) entries: Vec<(Uuid, Bytes)>,
}

impl Encoded {
    /// Takes the pipeline's JSON of each entry, or serializes the entry when
    /// the batch does not have it (JSON strings escape newlines, so an entry
    /// is always exactly one line).
    pub(crate) fn new(batch: Batch<'_>) -> Result<Self, SinkError> {
        let mut entries = Vec::with_capacity(batch.len());
        for i in 0..batch.len() {
            let id = batch.id(i);
            let json = match batch.json(i) {
                Some(json) => json.clone(),
                None => {
                    let mut buf = Vec::new();
                    batch.write_json(i, &mut buf).map_err(|e| {
                        SinkError::permanent(format!(
                            "entry {id} cannot be serialized as JSON: {e}; the batch is rejected, \
                             since writing it again fails the same way"
                        ))
                        .with_source(e)
                    })?;
                    Bytes::from(buf)
                }
            };
            entries.push((id, json));
        }
        Ok(Self { entries })
    }
}

/// The lines of the batch being written, in one buffer kept from batch to
/// batch: one `write(2)` of it costs less than a `writev(2)` of two slices
/// per entry.
#[derive(Debug, Default)]
pub(crate) struct LineBuffer {
    buf: Vec<u8>,
}

/// The largest line buffer kept between batches: a batch of 512 entries of
/// 8 KB; a larger batch gets a buffer of its own.
const KEPT_BUFFER: usize = 4 << 20;

impl LineBuffer {
    /// The buffer, holding the lines of `entries` (each JSON, then `\n`).
    pub(crate) fn fill(&mut self, entries: &[&(Uuid, Bytes)]) -> Vec<u8> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        for (_, json) in entries {
            buf.extend_from_slice(json);
            buf.push(b'\n');
        }
        buf
    }

    /// Gives the buffer back for the next batch, unless it grew larger than
    /// is worth keeping.
    pub(crate) fn recycle(&mut self, buf: Vec<u8>) {
        if buf.capacity() <= KEPT_BUFFER {
            self.buf = buf;
        }
    }
}
