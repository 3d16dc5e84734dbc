use audit_core::audited;

#[audited(event = "project.update", resouce = "project")]
fn rename(name: String) -> String {
    name
}

fn main() {}
