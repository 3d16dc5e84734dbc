use audit_core::audited;

#[audited(event = "limits.read")]
const fn limit() -> u32 {
    10
}

fn main() {}
