use audit_core::audited;

#[audited(event = "project.update", description = "{actor} renamed {project}")]
fn rename(name: String) -> String {
    name
}

fn main() {}
