use audit_core::audited;

#[audited(action = 1, skip(nope), skip_all, crate = 5)]
fn rename(name: String) -> String {
    name
}

fn main() {}
