//! `FileSink`: rotation, file modes, idempotency, torn-line repair, settings.
#![cfg(feature = "file")]

mod file_support;

use std::io::Write as _;
use std::time::Duration;

use audit_core::{AuditEvent, Batch, JsonEntry, Sink, SinkErrorKind};
use audit_sinks::file::{FileSink, FileSinkError, FileStore, Fsync};
use file_support::{entries, entry, files_ending, ids, log_files, scan_all, scan_ok};

#[tokio::test]
async fn rotates_by_size_without_splitting_batches() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FileSink::builder(dir.path()).max_file_bytes(2_000).build().unwrap();
    let written = entries(0, 30);
    for batch in written.chunks(3) {
        sink.write(audit_core::Batch::new(batch)).await.unwrap();
    }
    let files = files_ending(dir.path(), ".jsonl");
    assert!(files.len() >= 4, "{:?}", log_files(dir.path()));
    for f in &files {
        let len = std::fs::metadata(f).unwrap().len();
        assert!(len <= 2_000, "{} has {len} bytes", f.display());
        let text = std::fs::read_to_string(f).unwrap();
        assert_eq!(text.lines().count() % 3, 0, "a batch was split: {}", f.display());
    }
    // Names sort in write order, and the store reads them in that order.
    let store = FileStore::open(dir.path()).unwrap();
    assert_eq!(ids(&scan_ok(&store).await), ids(&written));

    // A batch larger than the limit goes whole into one file.
    let big = entries(100, 10);
    sink.write(audit_core::Batch::new(&big)).await.unwrap();
    let newest = files_ending(dir.path(), ".jsonl").pop().unwrap();
    assert_eq!(std::fs::read_to_string(newest).unwrap().lines().count(), 10);
}

#[tokio::test]
async fn rotates_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let sink =
        FileSink::builder(dir.path()).max_file_age(Duration::from_millis(200)).build().unwrap();
    let first = entries(0, 2);
    sink.write(audit_core::Batch::new(&first)).await.unwrap();
    assert_eq!(log_files(dir.path()).len(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = entries(2, 2);
    sink.write(audit_core::Batch::new(&second)).await.unwrap();
    let files = files_ending(dir.path(), ".jsonl");
    assert_eq!(files.len(), 2, "{:?}", log_files(dir.path()));
    let first_file = std::fs::read_to_string(&files[0]).unwrap();
    assert_eq!(first_file.lines().count(), 2);
    let store = FileStore::open(dir.path()).unwrap();
    assert_eq!(ids(&scan_ok(&store).await), ids(&[first, second].concat()));
}

#[cfg(unix)]
#[tokio::test]
async fn files_are_0600_and_a_created_directory_0700() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;

    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("var").join("audit");
    let sink = FileSink::builder(&dir).max_file_bytes(1_000).gzip_rotated(true).build().unwrap();
    for batch in entries(0, 12).chunks(3) {
        sink.write(audit_core::Batch::new(batch)).await.unwrap();
    }
    sink.flush().await.unwrap();
    // A torn line, moved aside to a .corrupt file on reopen.
    let active = files_ending(&dir, ".jsonl").pop().unwrap();
    std::fs::OpenOptions::new().append(true).open(&active).unwrap().write_all(b"{\"to").unwrap();
    drop(sink);
    let _reopened = FileSink::builder(&dir).build().unwrap();

    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&root.path().join("var")), 0o700);
    let files = log_files(&dir);
    assert!(files.iter().any(|f| f.ends_with(".jsonl.gz")), "{files:?}");
    assert!(files.iter().any(|f| f.ends_with(".jsonl.corrupt")), "{files:?}");
    for f in files {
        assert_eq!(mode(&dir.join(&f)), 0o600, "{f}");
    }
}

#[tokio::test]
async fn entries_written_again_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FileSink::builder(dir.path()).build().unwrap();
    let a = entries(0, 4);
    let b = entries(4, 4);
    sink.write(audit_core::Batch::new(&a)).await.unwrap();
    // A replay of the last batch, then one overlapping it, then one with an
    // entry twice.
    sink.write(audit_core::Batch::new(&a)).await.unwrap();
    sink.write(audit_core::Batch::new(&[&a[2..], &b[..2]].concat())).await.unwrap();
    sink.write(audit_core::Batch::new(&[b[2].clone(), b[2].clone(), b[3].clone()])).await.unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    assert_eq!(ids(&scan_ok(&store).await), ids(&[a, b].concat()));
}

#[tokio::test]
async fn ids_are_remembered_across_a_restart_and_rotated_files() {
    let dir = tempfile::tempdir().unwrap();
    let written = entries(0, 12);
    {
        let sink = FileSink::builder(dir.path()).max_file_bytes(2_000).build().unwrap();
        for batch in written.chunks(4) {
            sink.write(audit_core::Batch::new(batch)).await.unwrap();
        }
        assert!(log_files(dir.path()).len() >= 2);
    }
    // After a crash the pipeline replays the last batches, some of them from
    // the rotated file.
    let sink = FileSink::builder(dir.path()).max_file_bytes(2_000).build().unwrap();
    sink.write(audit_core::Batch::new(&written[2..])).await.unwrap();
    let more = entries(12, 2);
    sink.write(audit_core::Batch::new(&more)).await.unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    assert_eq!(ids(&scan_ok(&store).await), ids(&[written, more].concat()));
}

#[tokio::test]
async fn the_dedup_window_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FileSink::builder(dir.path()).dedup_window(3).build().unwrap();
    let written = entries(0, 5);
    sink.write(audit_core::Batch::new(&written)).await.unwrap();
    // Within the window: skipped. Beyond it: written again (the documented bound).
    sink.write(audit_core::Batch::new(&written[4..])).await.unwrap();
    sink.write(audit_core::Batch::new(&written[..1])).await.unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let mut expected = ids(&written);
    expected.push(written[0].id);
    assert_eq!(ids(&scan_ok(&store).await), expected);
}

#[tokio::test]
async fn a_torn_last_line_is_moved_aside_on_reopen_and_writing_continues() {
    let dir = tempfile::tempdir().unwrap();
    let written = entries(0, 5);
    {
        let sink = FileSink::builder(dir.path()).build().unwrap();
        sink.write(audit_core::Batch::new(&written)).await.unwrap();
    }
    // A crash in the middle of the next write: half a line, no newline.
    let active = files_ending(dir.path(), ".jsonl").pop().unwrap();
    let line = serde_json::to_string(&entry(99)).unwrap();
    let half = &line[..line.len() / 2];
    let good_len = std::fs::metadata(&active).unwrap().len();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&active)
        .unwrap()
        .write_all(half.as_bytes())
        .unwrap();

    let sink = FileSink::builder(dir.path()).build().unwrap();
    assert_eq!(std::fs::metadata(&active).unwrap().len(), good_len, "cut to the last good line");
    let corrupt = std::fs::read_to_string(format!("{}.corrupt", active.display())).unwrap();
    let mut lines = corrupt.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("# ") && header.contains("torn line 6"), "{header}");
    assert_eq!(lines.next(), Some(half));

    let more = entries(5, 3);
    sink.write(audit_core::Batch::new(&more)).await.unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let items = scan_all(&store).await;
    assert!(items.iter().all(Result::is_ok), "no corrupt line is left: {items:?}");
    assert_eq!(ids(&scan_ok(&store).await), ids(&[written, more].concat()));
    assert_eq!(files_ending(dir.path(), ".jsonl").len(), 1, "writing continued in the same file");
}

#[tokio::test]
async fn an_unparseable_last_line_is_moved_aside_too() {
    let dir = tempfile::tempdir().unwrap();
    let written = entries(0, 3);
    FileSink::builder(dir.path())
        .build()
        .unwrap()
        .write(audit_core::Batch::new(&written))
        .await
        .unwrap();
    let active = files_ending(dir.path(), ".jsonl").pop().unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&active)
        .unwrap()
        .write_all(b"\0\0\0\0\n")
        .unwrap();

    let sink = FileSink::builder(dir.path()).build().unwrap();
    assert!(std::path::Path::new(&format!("{}.corrupt", active.display())).exists());
    sink.write(audit_core::Batch::new(&entries(3, 1))).await.unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    assert_eq!(scan_ok(&store).await.len(), 4);
}

#[tokio::test]
async fn a_whole_last_entry_missing_only_its_newline_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let written = entries(0, 3);
    FileSink::builder(dir.path())
        .build()
        .unwrap()
        .write(audit_core::Batch::new(&written))
        .await
        .unwrap();
    let active = files_ending(dir.path(), ".jsonl").pop().unwrap();
    let len = std::fs::metadata(&active).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&active).unwrap().set_len(len - 1).unwrap();

    let sink = FileSink::builder(dir.path()).build().unwrap();
    assert!(!std::path::Path::new(&format!("{}.corrupt", active.display())).exists());
    // It counts as written: a replay of it is skipped.
    sink.write(audit_core::Batch::new(&written[2..])).await.unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    assert_eq!(ids(&scan_ok(&store).await), ids(&written));
}

#[tokio::test]
async fn every_fsync_mode_writes_the_same_lines() {
    for fsync in [Fsync::Batch, Fsync::Entry, Fsync::Never] {
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink::builder(dir.path()).fsync(fsync).build().unwrap();
        let written = entries(0, 7);
        sink.write(audit_core::Batch::new(&written[..4])).await.unwrap();
        sink.write(audit_core::Batch::new(&written[3..])).await.unwrap();
        sink.flush().await.unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        let read: Vec<AuditEvent> = scan_ok(&store).await;
        assert_eq!(read, written, "{fsync:?}");
    }
}

/// The pipeline's path: each entry's JSON alone, as slices of one shared
/// buffer (as its arena hands them out), written byte for byte, one line
/// each, with a replay skipped and a smaller batch after a larger one
/// (the writer keeps its line buffer between batches).
#[tokio::test]
async fn the_pipelines_json_is_written_as_it_is_in_every_fsync_mode() {
    let written = entries(0, 6);
    let json: Vec<Vec<u8>> = written.iter().map(|e| serde_json::to_vec(e).unwrap()).collect();
    let arena = bytes::Bytes::from(json.concat());
    let mut at = 0;
    let items: Vec<JsonEntry> = written
        .iter()
        .zip(&json)
        .map(|(e, j)| {
            at += j.len();
            JsonEntry { id: e.id, json: arena.slice(at - j.len()..at) }
        })
        .collect();
    for fsync in [Fsync::Batch, Fsync::Entry, Fsync::Never] {
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink::builder(dir.path()).fsync(fsync).build().unwrap();
        sink.write(Batch::from_json(&items[..4])).await.unwrap();
        // A replay overlapping the last batch, then a smaller batch.
        sink.write(Batch::from_json(&items[2..5])).await.unwrap();
        sink.write(Batch::from_json(&items[5..])).await.unwrap();
        sink.flush().await.unwrap();
        let files = files_ending(dir.path(), ".jsonl");
        let text: Vec<u8> = files.iter().flat_map(|f| std::fs::read(f).unwrap()).collect();
        let expected: Vec<u8> = json.iter().flat_map(|j| [&j[..], b"\n"].concat()).collect();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            String::from_utf8(expected).unwrap(),
            "{fsync:?}"
        );
    }
}

#[tokio::test]
async fn bad_settings_and_paths_are_refused_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (FileSink::builder(dir.path()).max_file_bytes(0).build(), "max_file_bytes"),
        (FileSink::builder(dir.path()).max_file_age(Duration::ZERO).build(), "max_file_age"),
        (FileSink::builder(dir.path()).max_files(0).build(), "max_files"),
        (FileSink::builder(dir.path()).max_age(Duration::ZERO).build(), "max_age"),
        (FileSink::builder(dir.path()).name(" ").build(), "name"),
    ];
    for (result, what) in cases {
        let err = result.unwrap_err();
        assert!(matches!(err, FileSinkError::InvalidConfig(_)), "{err:?}");
        assert!(err.to_string().contains(what), "{err}");
    }

    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let err = FileSink::builder(&file).build().unwrap_err();
    assert!(matches!(err, FileSinkError::NotADirectory { .. }), "{err:?}");
    assert!(err.to_string().contains("a-file"), "{err}");

    let err = FileSink::builder(file.join("sub")).build().unwrap_err();
    assert!(matches!(err, FileSinkError::CreateDir { .. }), "{err:?}");
    assert!(err.to_string().contains("cannot create the audit log directory"), "{err}");
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_directory_that_is_not_writable_is_refused() {
    // procfs refuses new files, even to root.
    let err = FileSink::builder("/proc").build().unwrap_err();
    assert!(matches!(err, FileSinkError::NotWritable { .. }), "{err:?}");
    assert!(err.to_string().contains("/proc is not writable"), "{err}");
}

#[tokio::test]
async fn name_debug_and_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FileSink::builder(dir.path()).name("file-archive").build().unwrap();
    assert_eq!(sink.name(), "file-archive");
    let debug = format!("{sink:?}");
    assert!(debug.contains("file-archive") && debug.contains("max_file_bytes"), "{debug}");
    assert_eq!(sink.dir(), dir.path());

    sink.write(audit_core::Batch::new(&entries(0, 2))).await.unwrap();
    sink.shutdown().await.unwrap();
    let err = sink.write(audit_core::Batch::new(&entries(2, 1))).await.unwrap_err();
    assert_eq!(err.kind(), SinkErrorKind::Permanent);
    assert!(err.to_string().contains("shut down"), "{err}");
    assert!(matches!(sink.apply_retention().await, Err(FileSinkError::ShutDown)));
}
