use std::io::Write;

use super::{Context, Status};
use crate::cli::KeygenArgs;
use crate::error::CliError;
use crate::keys;

/// `audit keygen`: a new Ed25519 key pair in `--out`.
pub fn keygen(args: &KeygenArgs, out: &mut dyn Write, _ctx: &Context) -> Result<Status, CliError> {
    let key = keys::generate()?;
    let paths = keys::write_key_pair(&args.out, &key, args.force)?;
    let text = format!(
        "wrote {} (secret: give it to the service, keep it out of the audit store)\n\
         wrote {} (public: for `audit verify --public-key`)\n\
         key id {}\n",
        paths.signing_key.display(),
        paths.public_key.display(),
        key.key_id()
    );
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(CliError::stdout)?;
    Ok(Status::Success)
}
