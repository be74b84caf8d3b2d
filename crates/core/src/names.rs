//! Machine names: docker-machine's rule (`^[a-zA-Z0-9][a-zA-Z0-9\-\.]*$`), so a name is always
//! a safe single path component and a valid hostname label sequence.

use crate::error::{Error, Result};

/// Long enough for any sane name, short enough for a hostname and for Windows paths.
pub const MAX_NAME_LEN: usize = 63;

pub fn validate_machine_name(name: &str) -> Result<()> {
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if name.is_empty() || !first_ok || !rest_ok {
        return Err(Error::invalid(format!(
            "invalid machine name \"{}\"",
            name.escape_default()
        ))
        .with_hint(
            "allowed characters are 0-9 a-z A-Z . - and the name must start with a letter or digit",
        ));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Error::invalid(format!(
            "machine name \"{name}\" is longer than {MAX_NAME_LEN} characters"
        )));
    }
    // Windows cannot have a directory with a trailing dot or a device's name (with any
    // extension), and a store must work on every system it is copied to.
    if name.ends_with('.') {
        return Err(
            Error::invalid(format!("machine name \"{name}\" ends with a dot"))
                .with_hint("Windows cannot store a folder of that name; drop the final dot"),
        );
    }
    if is_windows_device(name) {
        return Err(Error::invalid(format!(
            "machine name \"{name}\" is a Windows device name"
        ))
        .with_hint("CON, PRN, AUX, NUL, COM1-9 and LPT1-9 (with any extension) are reserved on Windows; choose another name"));
    }
    Ok(())
}

fn is_windows_device(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name).to_ascii_uppercase();
    matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.len() == 4
            && stem.as_bytes()[3].is_ascii_digit()
            && stem.as_bytes()[3] != b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_docker_machine_names() {
        for n in [
            "default",
            "dev1",
            "a",
            "web.prod-2",
            "9lives",
            "A-B.C",
            "console",
            "com0",
            "com10",
            "nullable",
            "lpt",
            "con-1",
        ] {
            validate_machine_name(n).unwrap();
        }
    }

    #[test]
    fn rejects_unsafe_names() {
        for n in [
            "",
            ".",
            "..",
            "-x",
            ".hidden",
            "a/b",
            "a b",
            "a\\b",
            "ä",
            "x;rm",
            "a\0b",
            &"x".repeat(64),
            "dev.",
            "CON",
            "nul.txt",
            "Aux",
            "com1",
            "LPT9.local",
        ] {
            assert!(validate_machine_name(n).is_err(), "{n:?} accepted");
        }
    }
}
