//! `audit keygen`: an Ed25519 key pair in the documented file formats.

use predicates::prelude::*;

use crate::fixture::audit;

fn is_hex_line(text: &str) -> bool {
    text.len() == 65
        && text.ends_with('\n')
        && text[..64].bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[test]
fn writes_a_key_pair() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("keys");
    audit()
        .args(["keygen", "--out"])
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains("signing.key"))
        .stdout(predicate::str::contains("signing.pub"))
        .stdout(predicate::str::contains("key id "));
    let secret = std::fs::read_to_string(out.join("signing.key")).unwrap();
    let public = std::fs::read_to_string(out.join("signing.pub")).unwrap();
    assert!(is_hex_line(&secret), "{secret:?}");
    assert!(is_hex_line(&public), "{public:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.join("signing.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The files hold one key pair.
    let key = audit_cli::keys::read_signing_key(out.join("signing.key")).unwrap();
    let verifying = audit_cli::keys::read_public_key(out.join("signing.pub")).unwrap();
    assert_eq!(key.verifying_key(), verifying);
}

#[test]
fn refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    audit().args(["keygen", "--out"]).arg(dir.path()).assert().success();
    let before = std::fs::read_to_string(dir.path().join("signing.key")).unwrap();
    audit()
        .args(["keygen", "--out"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("already exists"))
        .stderr(predicate::str::contains("--force"));
    assert_eq!(std::fs::read_to_string(dir.path().join("signing.key")).unwrap(), before);

    audit().args(["keygen", "--force", "--out"]).arg(dir.path()).assert().success();
    assert_ne!(std::fs::read_to_string(dir.path().join("signing.key")).unwrap(), before);
}

#[test]
fn out_is_required() {
    audit().arg("keygen").assert().code(2).stderr(predicate::str::contains("--out <DIR>"));
}
