use audit_core::audited;

#[audited(event = "project.update")]
struct Project;

fn main() {}
