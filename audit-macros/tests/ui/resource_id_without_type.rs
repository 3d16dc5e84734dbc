use audit_core::audited;

#[audited(event = "login", resource_id = user_id)]
fn login(user_id: u64) {
    let _ = user_id;
}

fn main() {}
