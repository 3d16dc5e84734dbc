use audit_core::audited;

#[audited(event = "project.update", event = "project.rename")]
fn rename(name: String) -> String {
    name
}

fn main() {}
