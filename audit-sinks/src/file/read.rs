//! Reading log files line by line: plain or gzipped, with a cap on the length
//! of a line so that garbage without newlines cannot exhaust memory.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use audit_core::json::rfc3339_micros;
use flate2::read::MultiGzDecoder;
use serde::Deserialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::names::Segment;

/// The longest line that is read as an entry. Entries are far smaller (bodies
/// are capped when captured); a longer line is reported as corrupt.
pub(crate) const MAX_LINE: usize = 16 * 1024 * 1024;

/// A line of a log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Line {
    /// A complete line, without its newline.
    Complete,
    /// The last bytes of the file, without a newline.
    Unterminated,
    /// Longer than [`MAX_LINE`]; skipped up to its newline (or the end).
    TooLong,
}

/// An entry read only as far as its id, time and place in its chain: enough
/// to summarize a file and to know the ids written, without parsing the rest.
#[derive(Debug, Deserialize)]
pub(crate) struct EntryStub {
    pub(crate) id: Uuid,
    #[serde(with = "rfc3339_micros")]
    pub(crate) time: OffsetDateTime,
    #[serde(default)]
    pub(crate) chain: Option<ChainPosition>,
}

/// Where an entry is in its chain: the `id` and `seq` of its `chain` field.
#[derive(Debug, Deserialize)]
pub(crate) struct ChainPosition {
    pub(crate) id: Uuid,
    pub(crate) seq: u64,
}

/// Reads lines of at most [`MAX_LINE`] bytes.
pub(crate) struct LineReader<R> {
    inner: R,
    /// 1-based number of the line last read.
    pub(crate) line_no: u64,
    /// Bytes consumed so far (offset of the next line).
    pub(crate) offset: u64,
}

impl<R: BufRead> LineReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self { inner, line_no: 0, offset: 0 }
    }

    /// Reads the next line into `buf` (cleared first); `None` at the end.
    pub(crate) fn next_line(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<Line>> {
        buf.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                if !any {
                    return Ok(None);
                }
                self.line_no += 1;
                return Ok(Some(if too_long { Line::TooLong } else { Line::Unterminated }));
            }
            any = true;
            let (chunk, used, done) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (&available[..i], i + 1, true),
                None => (available, available.len(), false),
            };
            if !too_long {
                if buf.len() + chunk.len() > MAX_LINE {
                    too_long = true;
                    buf.clear();
                } else {
                    buf.extend_from_slice(chunk);
                }
            }
            self.inner.consume(used);
            self.offset += used as u64;
            if done {
                self.line_no += 1;
                return Ok(Some(if too_long { Line::TooLong } else { Line::Complete }));
            }
        }
    }
}

/// Whether a line holds nothing but whitespace (skipped everywhere).
pub(crate) fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// An open segment file, decompressed if needed.
pub(crate) type SegmentReader = LineReader<Box<dyn BufRead + Send>>;

/// Opens a segment for reading, wherever its content is now: a segment listed
/// as plain may have been compressed (and the plain file removed) since it was
/// listed, so both names are tried. `Ok(None)` when neither exists any more
/// (removed by retention meanwhile).
pub(crate) fn open_segment(
    dir: &Path,
    segment: &Segment,
) -> io::Result<Option<(PathBuf, SegmentReader)>> {
    let candidates = if segment.gz {
        [(segment.gz_path(dir), true), (segment.plain_path(dir), false)]
    } else {
        [(segment.plain_path(dir), false), (segment.gz_path(dir), true)]
    };
    for (path, gz) in candidates {
        match File::open(&path) {
            Ok(file) => return Ok(Some((path, reader(file, gz)))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// A line reader over a file, decompressing when `gz`.
pub(crate) fn reader(file: File, gz: bool) -> SegmentReader {
    let inner: Box<dyn BufRead + Send> = if gz {
        Box::new(BufReader::with_capacity(64 * 1024, MultiGzDecoder::new(file)))
    } else {
        Box::new(BufReader::with_capacity(64 * 1024, file))
    };
    LineReader::new(inner)
}

/// A reader over at most `len` bytes of `file` (the length it had when it was
/// opened: a file that grows meanwhile is read up to there).
pub(crate) fn bounded_reader(file: File, len: u64) -> LineReader<BufReader<io::Take<File>>> {
    LineReader::new(BufReader::with_capacity(64 * 1024, file.take(len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<(Line, Vec<u8>, u64)> {
        let mut r = LineReader::new(input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(line) = r.next_line(&mut buf).unwrap() {
            out.push((line, buf.clone(), r.offset));
        }
        out
    }

    #[test]
    fn splits_lines_and_reports_the_unterminated_tail() {
        let out = lines(b"a\nbc\n\nde");
        assert_eq!(
            out,
            vec![
                (Line::Complete, b"a".to_vec(), 2),
                (Line::Complete, b"bc".to_vec(), 5),
                (Line::Complete, b"".to_vec(), 6),
                (Line::Unterminated, b"de".to_vec(), 8),
            ]
        );
        assert!(lines(b"").is_empty());
    }

    #[test]
    fn caps_long_lines() {
        let mut input = vec![b'x'; MAX_LINE + 10];
        input.extend_from_slice(b"\nok\n");
        let out = lines(&input);
        assert_eq!(out[0].0, Line::TooLong);
        assert!(out[0].1.is_empty());
        assert_eq!((out[1].0, out[1].1.as_slice()), (Line::Complete, &b"ok"[..]));
    }
}
