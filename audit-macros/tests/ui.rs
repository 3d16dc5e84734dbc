//! Compile errors: each file under `tests/ui` is one mistake, with the
//! expected message in the `.stderr` beside it. Regenerate them with
//! `TRYBUILD=overwrite cargo test -p audit-macros --test ui`, then review.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
