use audit_core::audited;

#[audited(event = "project.update", action = "modify", delivery = "sometimes")]
fn rename(name: String) -> String {
    name
}

fn main() {}
