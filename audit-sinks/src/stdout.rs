//! JSON Lines on standard output (feature `stdout`), for containers whose log
//! collector already ships stdout; and [`WriterSink`], the same for any
//! [`Write`], e.g. to capture entries in tests.
//!
//! Each entry is one line: its JSON form (schema version 1) and `\n`. JSON
//! escapes control characters inside strings, so a value with a newline never
//! splits an entry over two lines. A batch is encoded first and written with
//! one `write_all` while holding the lock (stdout's own lock for
//! [`StdoutSink`]), so lines from other threads that also lock stdout, such
//! as `println!`, never land inside an entry. The write runs on Tokio's
//! blocking pool: a full pipe stalls the sink's worker, not the runtime.
//!
//! # Errors
//!
//! A broken pipe (`EPIPE`: the reader of stdout has gone, e.g. the log
//! collector died) is **permanent**: a closed pipe never reopens for this
//! process, so retrying would stall the sink forever. Each batch is then
//! reported as failed and, when the auditor has a spool, kept in its
//! dead-letter file. Rust ignores `SIGPIPE`, so the process keeps running and
//! other sinks are not affected. Other I/O errors follow
//! [`SinkError`]'s conversion from [`std::io::Error`] (most are transient).
//!
//! ```
//! use audit_core::{AuditEvent, Sink};
//! use audit_sinks::stdout::WriterSink;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sink = WriterSink::new(Vec::new());
//! sink.write(audit_core::Batch::new(&[audit_core::AuditEvent::builder("project.update").build()])).await?;
//! let out = sink.with_writer(|buf| String::from_utf8(buf.clone()))?;
//! assert_eq!(out.lines().count(), 1);
//! let entry: AuditEvent = serde_json::from_str(out.trim_end())?;
//! assert_eq!(entry.event, "project.update");
//! # Ok(()) }
//! ```

use std::fmt;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use audit_core::SinkInput;
use audit_core::{Batch, Sink, SinkError};

/// Writes entries as JSON Lines to standard output; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct StdoutSink {
    name: String,
}

impl Default for StdoutSink {
    fn default() -> Self {
        Self::new()
    }
}

impl StdoutSink {
    /// A sink named `stdout`.
    pub fn new() -> Self {
        Self { name: "stdout".to_owned() }
    }

    /// Renames the sink (default `stdout`); sink names must be unique per auditor.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

#[async_trait]
impl Sink for StdoutSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn input(&self) -> SinkInput {
        SinkInput::Json
    }

    async fn write(&self, batch: Batch<'_>) -> Result<(), SinkError> {
        let buf = encode(batch)?;
        blocking(move || {
            let mut out = io::stdout().lock();
            out.write_all(&buf)?;
            out.flush()
        })
        .await
    }
}

/// Writes entries as JSON Lines to any [`Write`]; see the [module docs](self).
///
/// Clones share the writer, so a test can keep one clone and read what the
/// pipeline wrote with [`with_writer`](Self::with_writer).
pub struct WriterSink<W> {
    name: String,
    writer: Arc<Mutex<W>>,
}

impl<W> Clone for WriterSink<W> {
    fn clone(&self) -> Self {
        Self { name: self.name.clone(), writer: Arc::clone(&self.writer) }
    }
}

impl<W> fmt::Debug for WriterSink<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriterSink")
            .field("name", &self.name)
            .field("writer", &std::any::type_name::<W>())
            .finish()
    }
}

impl<W: Write + Send + 'static> WriterSink<W> {
    /// A sink named `writer` that writes to `writer`.
    pub fn new(writer: W) -> Self {
        Self { name: "writer".to_owned(), writer: Arc::new(Mutex::new(writer)) }
    }

    /// Renames the sink (default `writer`); sink names must be unique per auditor.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Runs `f` with the writer locked, e.g. to read a `Vec<u8>` that entries
    /// were written to.
    pub fn with_writer<R>(&self, f: impl FnOnce(&mut W) -> R) -> R {
        let mut guard = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }
}

#[async_trait]
impl<W: Write + Send + 'static> Sink for WriterSink<W> {
    fn name(&self) -> &str {
        &self.name
    }

    fn input(&self) -> SinkInput {
        SinkInput::Json
    }

    async fn write(&self, batch: Batch<'_>) -> Result<(), SinkError> {
        let buf = encode(batch)?;
        let writer = Arc::clone(&self.writer);
        blocking(move || {
            let mut w = writer.lock().unwrap_or_else(|e| e.into_inner());
            w.write_all(&buf)?;
            w.flush()
        })
        .await
    }

    async fn flush(&self) -> Result<(), SinkError> {
        let writer = Arc::clone(&self.writer);
        blocking(move || writer.lock().unwrap_or_else(|e| e.into_inner()).flush()).await
    }
}

/// The batch as JSON Lines (the pipeline's JSON of each entry, when it
/// has it).
fn encode(batch: Batch<'_>) -> Result<Vec<u8>, SinkError> {
    let mut buf = Vec::with_capacity(batch.len() * 512);
    for i in 0..batch.len() {
        batch.write_json(i, &mut buf).map_err(|e| {
            SinkError::permanent(format!("cannot encode entry {} as JSON: {e}", batch.id(i)))
                .with_source(e)
        })?;
        buf.push(b'\n');
    }
    Ok(buf)
}

/// Runs a write on the blocking pool and classifies its error.
async fn blocking(
    write: impl FnOnce() -> io::Result<()> + Send + 'static,
) -> Result<(), SinkError> {
    match tokio::task::spawn_blocking(write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(classify(e)),
        Err(join) => Err(SinkError::permanent(format!(
            "the writer panicked or was cancelled while writing the batch: {join}"
        ))),
    }
}

fn classify(e: io::Error) -> SinkError {
    if e.kind() == io::ErrorKind::BrokenPipe {
        SinkError::permanent(format!(
            "the output is a closed pipe ({e}): its reader has gone and it will not come back; \
             the batch goes to the dead-letter file. Restart the process with a live reader \
             (log collector) to write entries again"
        ))
        .with_source(e)
    } else {
        SinkError::from(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct BrokenPipe;

    impl Write for BrokenPipe {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_broken_pipe_is_permanent() {
        let sink = WriterSink::new(BrokenPipe);
        let err = sink
            .write(audit_core::Batch::new(&[audit_core::AuditEvent::builder("a.update").build()]))
            .await
            .unwrap_err();
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("closed pipe"), "{err}");
    }

    #[tokio::test]
    async fn an_interrupted_write_is_transient() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::WriteZero.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let err = WriterSink::new(Full)
            .write(audit_core::Batch::new(&[audit_core::AuditEvent::builder("a.update").build()]))
            .await
            .unwrap_err();
        assert!(err.is_retryable());
    }
}
