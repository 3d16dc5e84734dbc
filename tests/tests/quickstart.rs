//! The quickstart runs to completion: the scenario's calls get the answers
//! the script expects, the log holds one entry per audited call, the chain
//! verifies with the public key and is sealed, and no secret is in the log.

use audit_core::Outcome;
use examples::quickstart::{Options, run};

#[tokio::test]
async fn the_quickstart_runs_to_completion() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options::under(dir.path());
    let mut out = Vec::new();
    let report = run(&options, &mut out).await.expect("the quickstart succeeds");
    let text = String::from_utf8(out).unwrap();

    let statuses: Vec<&str> = report.scenario.steps.iter().map(|s| s.status.as_str()).collect();
    assert_eq!(
        statuses,
        [
            "201", "201", "200", "409", "404", "403", "401", "201", "201", "200", "201", "200",
            "204", "200", "OK"
        ],
        "{text}"
    );
    // genesis + 14 audited calls (the GET is not) + the closing checkpoint
    assert_eq!(report.entries.len(), 16, "{text}");
    let denied = report.entries.iter().filter(|e| e.outcome == Outcome::Denied).count();
    assert_eq!(denied, 2, "bob's 403 and the 401");
    assert!(report.verification.signatures_checked);
    assert!(report.verification.chains.iter().all(|c| c.sealed));
    assert!(report.secrets.found.is_empty());
    assert!(report.secrets.bytes > 0);
    assert!(options.keys_dir.join("signing.pub").is_file());

    for expected in ["Scenario:", "TIME (UTC)", "✔ chain verified", "Explore further:"] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
    // A second run starts from a clean log.
    let again = run(&options, &mut Vec::new()).await.expect("the quickstart runs again");
    assert_eq!(again.entries.len(), 16);
}
