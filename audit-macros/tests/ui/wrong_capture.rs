use audit_core::audited;

#[audited(event = "project.update", capture(request = "no"))]
fn rename(name: String) -> String {
    name
}

fn main() {}
