use audit_core::audited;

struct ProjectId(u64);

#[audited(event = "project.update", auditor = "billing", resource_id = ProjectId(7))]
fn rename(name: String) -> String {
    name
}

fn main() {}
