use audit_core::audited;

#[audited(event = "user.create", skip(pasword))]
fn create(email: String, password: String, (org, team): (u32, u32)) -> String {
    let _ = (password, org, team);
    email
}

fn main() {}
