//! The audit trail the SaaS API leaves is tamper-evident: after the
//! quickstart scenario, the chain verifies with the public key and is sealed
//! (the `audit verify` CLI agrees); an edited entry or another key is caught.

use std::path::Path;

use audit_core::integrity::{ProblemKind, VerifyOptions, verify};
use audit_core::{AuditEvent, SigningKey};
use examples::quickstart::scenario;
use tests::{Api, read_log};

async fn log_of_the_scenario() -> (Vec<AuditEvent>, tempfile::TempDir, SigningKey) {
    let keys = tempfile::tempdir().unwrap();
    let key = audit_cli::keys::generate().unwrap();
    let paths = audit_cli::keys::write_key_pair(keys.path(), &key, false).unwrap();
    let api = Api::start_with(|config| config.with_signing_key(&paths.signing_key)).await;
    let grpc = api.server.grpc_addr();
    scenario(&api.server.url(), grpc, &mut Vec::new()).await.unwrap();
    let (_, dir) = api.finish().await;
    let entries = read_log(&dir.path().join("audit")).await;
    (entries, dir, key)
}

#[tokio::test]
async fn the_chain_verifies_with_the_key_and_is_sealed() {
    let (entries, dir, key) = log_of_the_scenario().await;
    let options = VerifyOptions::new().key(key.verifying_key()).require_sealed(true);
    let report = verify(&entries, &options).expect("the chain verifies");
    assert!(report.signatures_checked);
    assert_eq!(report.chains.len(), 1);
    assert!(report.chains[0].sealed);
    assert_eq!(report.entries, entries.len() as u64);
    assert_eq!(entries.first().unwrap().event, "audit.genesis");
    assert_eq!(entries.last().unwrap().event, "audit.checkpoint");

    // The CLI agrees (it runs its own runtime: off this one).
    let keys = tempfile::tempdir().unwrap();
    let public = audit_cli::keys::write_key_pair(keys.path(), &key, false).unwrap().public_key;
    let store = dir.path().join("audit");
    let code = tokio::task::spawn_blocking(move || cli_verify(&store, &public)).await.unwrap();
    assert_eq!(code, std::process::ExitCode::SUCCESS);
}

fn cli_verify(store: &Path, public: &Path) -> std::process::ExitCode {
    audit_cli::main_with_args([
        "audit".as_ref(),
        "verify".as_ref(),
        "--quiet".as_ref(),
        "--store".as_ref(),
        store.as_os_str(),
        "--public-key".as_ref(),
        public.as_os_str(),
        "--require-sealed".as_ref(),
    ])
}

#[tokio::test]
async fn an_edited_entry_or_another_key_is_caught() {
    let (mut entries, _dir, _key) = log_of_the_scenario().await;
    let denied = entries.iter().position(|e| e.event == "member.role_change").unwrap();

    let stranger = SigningKey::ed25519_from_bytes(&[9; 32]).verifying_key();
    let problem = verify(&entries, &VerifyOptions::new().key(stranger)).unwrap_err();
    assert!(
        matches!(problem.kind, ProblemKind::BadSignature | ProblemKind::MissingSignature),
        "{problem:?}"
    );

    // Someone turns bob's denied role change into a success.
    entries[denied].outcome = audit_core::Outcome::Success;
    let problem = verify(&entries, &VerifyOptions::new()).unwrap_err();
    assert_eq!(problem.kind, ProblemKind::Modified);
    assert_eq!(problem.seq, entries[denied].chain.as_ref().unwrap().seq);
}
