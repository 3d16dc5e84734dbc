use audit_core::audited;

#[audited(action = "update")]
fn rename(name: String) -> String {
    name
}

fn main() {}
