//! Compile-time checking of `description` templates.
//!
//! The grammar is shared with `audit_core::macro_support::render_description`,
//! which renders them when the entry is assembled.

/// The placeholders a template may use, besides `{metadata.KEY}`.
pub(crate) const PLACEHOLDERS: &[&str] = &[
    "actor",
    "actor.id",
    "actor.name",
    "actor.email",
    "actor.kind",
    "resource",
    "resource.type",
    "resource.id",
    "resource.name",
    "tenant",
    "event",
    "action",
];

/// Checks a template: balanced braces (`{{` and `}}` escape them) and known
/// placeholder names.
pub(crate) fn check(template: &str) -> Result<(), String> {
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('}') {
            return Err("unmatched `}` in `description`; write `}}` for a literal brace".into());
        }
        let Some(end) = tail.find('}') else {
            return Err("unclosed `{` in `description`; write `{{` for a literal brace".into());
        };
        let name = tail[1..end].trim();
        let known = PLACEHOLDERS.contains(&name)
            || name.strip_prefix("metadata.").is_some_and(|k| !k.is_empty());
        if !known {
            return Err(format!(
                "unknown placeholder `{{{name}}}` in `description`; expected one of {}, or \
                 `{{metadata.KEY}}`",
                PLACEHOLDERS.iter().map(|p| format!("`{{{p}}}`")).collect::<Vec<_>>().join(", ")
            ));
        }
        rest = &tail[end + 1..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn accepts_known_placeholders_and_escapes() {
        assert!(check("{actor} updated {resource.type} {resource.id} {{literal}}").is_ok());
        assert!(check("{metadata.region} in {tenant}").is_ok());
        assert!(check("no placeholders").is_ok());
    }

    #[test]
    fn rejects_unknown_and_unbalanced() {
        assert!(check("{actr}").unwrap_err().contains("unknown placeholder `{actr}`"));
        assert!(check("{metadata.}").is_err());
        assert!(check("{actor").unwrap_err().contains("unclosed"));
        assert!(check("actor}").unwrap_err().contains("unmatched"));
    }
}
