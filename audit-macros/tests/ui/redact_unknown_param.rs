use audit_core::audited;

#[audited(event = "user.create", redact(user.password))]
fn create(body: String) -> String {
    body
}

fn main() {}
