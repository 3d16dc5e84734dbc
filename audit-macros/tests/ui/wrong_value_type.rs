use audit_core::audited;

#[audited(event = project_update, skip = name)]
fn rename(name: String) -> String {
    name
}

fn main() {}
